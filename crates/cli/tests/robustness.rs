//! Bad inputs, damaged index files, a second writer, a missing or tampered model: each gets a
//! clear outcome and loses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::fs;
use std::path::Path;

use util::{TestDir, hit_names, write_colour_photos};

fn copy_tree(src: &Path, dst: &Path) -> usize {
    let mut files = 0;
    fs::create_dir_all(dst).unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let target = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            files += copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            files += usize::from(photo_search_core::scan::is_photo_name(&target));
        }
    }
    files
}

#[test]
fn bad_inputs_are_recorded_as_failed_with_reasons_and_the_rest_is_indexed() {
    let t = TestDir::new();
    let photos = t.path("photos");
    let candidates = copy_tree(&util::shared().join("bad-inputs"), &photos.join("bad")) + 8;
    write_colour_photos(&photos, 2);
    let out = t.ok(&["index", photos.to_str().unwrap()]);
    assert!(out.contains("failed"), "{out}");

    let status = t.json(&["status", "--json", "--failed"]);
    assert_eq!(
        status["photos"]["total"].as_u64().unwrap() as usize,
        candidates,
        "every candidate file is accounted for"
    );
    let failures = status["failures"].as_array().unwrap();
    assert_eq!(status["photos"]["failed"].as_u64().unwrap() as usize, failures.len());
    let reason = |name: &str| {
        failures
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .map(|f| f["reason"].as_str().unwrap().to_string())
    };
    assert!(failures.iter().all(|f| !f["reason"].as_str().unwrap().is_empty()));
    assert_eq!(reason("generated/zero_bytes.jpg").as_deref(), Some("empty file"));
    assert!(reason("bomb_jpeg_valid_20000x20000_gray.jpg").unwrap().contains("too large"));
    assert!(reason("bomb_png_valid_50000x50000_1bit.png").unwrap().contains("too large"));
    assert!(reason("bomb_jpeg_header_65500x65500.jpg").unwrap().contains("too large"));
    assert!(reason("text_named.jpg").unwrap().contains("not an image"));
    assert!(reason("trunc_Nikon_D90_first1KB.jpg").unwrap().contains("corrupt or truncated"));
    // With libheif: its reason for refusing the file; without: "not supported by this build".
    assert!(reason("heif_malformed/NegativeArraySizeException.ItemInfoBox.init.heif").unwrap().contains("heic"));
    // Valid images with the wrong extension are sniffed and indexed.
    assert_eq!(reason("really_jpeg_named.png"), None);
    assert_eq!(reason("really_png_named.jpg"), None);

    let mut names = hit_names(&t.json(&["search", "blue", "-n", "2", "--json"]));
    names.sort();
    assert_eq!(names, vec!["blue0.jpg".to_string(), "blue1.jpg".to_string()]);

    // Failed files are not retried while unchanged.
    let again = t.ok(&["index"]);
    assert!(again.contains(&format!("indexed 0, moved 0, duplicates 0, unchanged {candidates}")), "{again}");
}

fn colour_library() -> TestDir {
    let t = TestDir::new();
    write_colour_photos(&t.path("photos"), 3);
    t.ok(&["index", t.path("photos").to_str().unwrap()]);
    t
}

fn index_file(t: &TestDir) -> std::path::PathBuf {
    t.library().join("index/test-color.usearch")
}

#[test]
fn deleted_index_file_is_rebuilt_with_the_same_results() {
    let t = colour_library();
    let before = t.ok(&["search", "red", "-n", "12", "--json"]);
    fs::remove_file(index_file(&t)).unwrap();
    assert_eq!(t.ok(&["search", "red", "-n", "12", "--json"]), before);
}

#[test]
fn corrupted_index_file_is_rebuilt_with_the_same_results() {
    let t = colour_library();
    let before = t.ok(&["search", "green", "-n", "12", "--json"]);
    let mut bytes = fs::read(index_file(&t)).unwrap();
    let len = bytes.len();
    bytes[len / 3..].fill(0x5A);
    fs::write(index_file(&t), &bytes).unwrap();
    assert_eq!(t.ok(&["search", "green", "-n", "12", "--json"]), before);
    // A writer heals the file on disk too.
    t.ok(&["index"]);
    assert_eq!(t.ok(&["search", "green", "-n", "12", "--json"]), before);

    fs::write(index_file(&t), b"garbage").unwrap();
    assert_eq!(t.ok(&["search", "green", "-n", "12", "--json"]), before);
}

#[test]
fn second_writer_is_told_which_process_holds_the_library() {
    let t = colour_library();
    let _held =
        photo_search_core::library::Library::open(&t.library(), photo_search_core::library::Access::Write).unwrap();
    let out = t.run(&["index"]);
    assert!(!out.status.success());
    let err = util::stderr(&out);
    assert!(err.contains(&format!("in use by PID {}", std::process::id())), "{err}");
    // Readers are fine meanwhile.
    assert_eq!(hit_names(&t.json(&["search", "red", "-n", "1", "--json"])).len(), 1);
}

/// A copy of the test model in a temp dir, so that its files can be tampered with.
fn model_copy(t: &TestDir) -> std::path::PathBuf {
    let dir = t.path("model");
    fs::create_dir_all(dir.join("onnx")).unwrap();
    let src = util::test_model();
    for file in ["onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json"] {
        fs::copy(src.join(file), dir.join(file)).unwrap();
    }
    fs::copy(util::repo().join("models/test-color.toml"), dir.join("manifest.toml")).unwrap();
    dir
}

#[test]
fn model_with_a_checksum_mismatch_is_not_used() {
    let t = TestDir::new();
    write_colour_photos(&t.path("photos"), 1);
    let model = model_copy(&t);
    let out = t.run_with_model(&model, &["index", t.path("photos").to_str().unwrap()]);
    assert!(out.status.success(), "{}", util::stderr(&out));

    // Same size, different bytes: only the checksum can tell.
    let vision = model.join("onnx/vision_model.onnx");
    let mut bytes = fs::read(&vision).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    fs::write(&vision, &bytes).unwrap();
    for args in [&["search", "red"][..], &["models", "verify"], &["index"]] {
        let out = t.run_with_model(&model, args);
        assert!(!out.status.success(), "{args:?} must refuse the tampered model");
        let err = util::stderr(&out);
        assert!(err.contains("sha256") && err.contains("not using this model"), "{args:?}: {err}");
    }
}

#[test]
fn verify_accepts_the_intact_test_model() {
    let t = TestDir::new();
    let out = t.ok(&["models", "verify"]);
    assert!(out.contains("test-color (fp32) verified"), "{out}");
}

/// Runs photo-search on the test library with no --model: the default model, not downloaded.
fn run_default_model(t: &TestDir, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_photo-search"))
        .arg("--library")
        .arg(t.library())
        .args(args)
        .env_remove("PHOTO_SEARCH_MODEL")
        .output()
        .unwrap()
}

#[test]
fn missing_default_model_says_how_to_get_it() {
    let t = TestDir::new();
    let out = run_default_model(&t, &["search", "red"]);
    assert!(!out.status.success());
    let err = util::stderr(&out);
    assert!(err.contains("not downloaded") && err.contains("photo-search models fetch clip-vit-base-patch32"), "{err}");

    // Status still works, and says what is wrong.
    let out = run_default_model(&t, &["status", "--json"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(status["model"]["problem"].as_str().unwrap().contains("not downloaded"));
    assert_eq!(status["provider"], "CPU");
}
