//! End to end through the real ONNX Runtime with models/test-color: index, search by colour
//! words, search by image, incremental re-index, deletions, status.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::fs;

use util::{TestDir, hit_names, write_colour_photos};

const REAL_PHOTOS: &[&str] =
    &["camera/Nikon_D90.jpg", "camera/Apple_iPhone_4S.jpg", "orientation/recurser/Landscape_6.jpg"];

fn indexed_library() -> TestDir {
    let t = TestDir::new();
    let photos = t.path("photos");
    write_colour_photos(&photos, 3);
    for rel in REAL_PHOTOS {
        let src = util::shared().join("photos").join(rel);
        fs::copy(&src, photos.join(src.file_name().unwrap())).unwrap();
    }
    let out = t.ok(&["index", photos.to_str().unwrap()]);
    assert!(out.contains("indexed 15, moved 0, duplicates 0, unchanged 0, failed 0"), "{out}");
    t
}

#[test]
fn colour_word_search_ranks_photos_of_that_colour_first() {
    let t = indexed_library();
    for (colour, _) in util::COLOURS {
        let hits = t.json(&["search", colour, "-n", "3", "--json"]);
        let names = hit_names(&hits);
        assert_eq!(names.len(), 3);
        assert!(names.iter().all(|n| n.starts_with(colour)), "search {colour}: {names:?}");
        let scores: Vec<f64> = hits.as_array().unwrap().iter().map(|h| h["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "scores not best first: {scores:?}");
        assert!(hits[0]["id"].as_i64().is_some());
    }
}

#[test]
fn similar_to_a_blue_photo_returns_blue_photos() {
    let t = indexed_library();
    let query = t.path("photos/blue0.jpg");
    let mut names = hit_names(&t.json(&["similar", query.to_str().unwrap(), "-n", "2", "--json"]));
    names.sort();
    assert_eq!(names, vec!["blue1.jpg".to_string(), "blue2.jpg".to_string()]);

    // A file outside the library is encoded on the fly.
    let outside = t.path("outside");
    write_colour_photos(&outside, 1);
    let names = hit_names(&t.json(&["similar", outside.join("green0.jpg").to_str().unwrap(), "-n", "3", "--json"]));
    assert!(names.iter().all(|n| n.starts_with("green")), "{names:?}");
}

#[test]
fn similar_by_photo_id_excludes_the_photo_itself() {
    let t = indexed_library();
    let first = t.json(&["search", "yellow", "-n", "1", "--json"]);
    let id = first[0]["id"].as_i64().unwrap().to_string();
    let hits = t.json(&["similar", &id, "-n", "2", "--json"]);
    assert!(hits.as_array().unwrap().iter().all(|h| h["id"].as_i64().unwrap().to_string() != id));
    assert!(hit_names(&hits).iter().all(|n| n.starts_with("yellow")), "{hits}");
}

#[test]
fn combined_query_moves_away_from_negative_terms() {
    let t = indexed_library();
    // In colour space yellow minus green points to red: the negative term must change the
    // ranking, not merely be accepted.
    let names = hit_names(&t.json(&["search", r#""yellow" - "green""#, "-n", "3", "--json"]));
    assert!(names.iter().all(|n| n.starts_with("red")), "{names:?}");
    let names = hit_names(&t.json(&["search", r#""red" + "blue""#, "-n", "6", "--json"]));
    assert!(names.iter().all(|n| n.starts_with("red") || n.starts_with("blue")), "{names:?}");
    let err = t.run(&["search", "--", "- red"]);
    assert!(!err.status.success());
    assert!(util::stderr(&err).contains("at least one term that is not negative"), "{}", util::stderr(&err));
}

#[test]
fn second_index_is_a_no_op() {
    let t = indexed_library();
    let out = t.ok(&["index"]);
    assert!(out.contains("indexed 0, moved 0, duplicates 0, unchanged 15, failed 0, removed 0"), "{out}");
}

#[test]
fn changed_file_is_re_encoded() {
    let t = indexed_library();
    // Overwrite a red photo with a blue one: it must now be found as blue.
    fs::copy(t.path("photos/blue0.jpg"), t.path("photos/red0.jpg")).unwrap();
    let out = t.ok(&["index"]);
    assert!(out.contains("indexed 1, moved 0, duplicates 0, unchanged 14"), "{out}");
    let names = hit_names(&t.json(&["search", "blue", "-n", "4", "--json"]));
    assert!(names.contains(&"red0.jpg".to_string()), "{names:?}");
}

#[test]
fn deleted_file_disappears_from_results() {
    let t = indexed_library();
    fs::remove_file(t.path("photos/red1.jpg")).unwrap();
    let out = t.ok(&["index"]);
    assert!(out.contains("removed 1"), "{out}");
    let names = hit_names(&t.json(&["search", "red", "-n", "20", "--json"]));
    assert!(!names.contains(&"red1.jpg".to_string()), "{names:?}");
    assert_eq!(names.len(), 14);
}

#[test]
fn status_reports_cpu_provider_and_counts() {
    let t = indexed_library();
    let status = t.json(&["status", "--json"]);
    assert_eq!(status["provider"], "CPU");
    assert_eq!(status["photos"]["total"], 15);
    assert_eq!(status["photos"]["indexed"], 15);
    assert_eq!(status["photos"]["failed"], 0);
    assert_eq!(status["index"]["vectors"], 15);
    assert!(status["index"]["file_bytes"].as_u64().unwrap() > 0);
    assert_eq!(status["model"]["id"], "test-color");
    assert!(status["model"]["problem"].is_null());
}

#[test]
fn the_library_keeps_the_model_it_was_indexed_with() {
    let t = indexed_library();
    // As the app and `serve` start: no --model.
    let bare = |args: &[&str]| {
        let out = t.run_bare(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let model_of = |args: &[&str]| {
        let status: serde_json::Value = serde_json::from_str(&bare(args)).unwrap();
        status["model"]["id"].as_str().unwrap().to_string()
    };
    assert_eq!(model_of(&["status", "--json"]), "test-color");
    let names = hit_names(&serde_json::from_str(&bare(&["search", "red", "--json"])).unwrap());
    assert!(names.iter().any(|n| n.starts_with("red")), "{names:?}");
    // --model chooses for one run only.
    assert_eq!(model_of(&["--model", "clip-vit-base-patch32", "status", "--json"]), "clip-vit-base-patch32");
    assert_eq!(model_of(&["status", "--json"]), "test-color");
    // `models use` starts a switch: searches keep test-color until the new model covers the
    // library (models.rs follows a switch to its end).
    let out = bare(&["models", "use", "clip-vit-base-patch32"]);
    assert!(out.contains("switching to clip-vit-base-patch32"), "{out}");
    let status: serde_json::Value = serde_json::from_str(&bare(&["status", "--json"])).unwrap();
    assert_eq!(status["model"]["id"], "test-color");
    assert_eq!(status["switching_to"], "clip-vit-base-patch32");
}

#[test]
fn a_chosen_precision_is_run_or_refused_by_name() {
    let t = indexed_library();
    let status = t.json(&["--precision", "fp32", "status", "--json"]);
    assert_eq!(status["model"]["precision"], "fp32");
    assert!(status["model"]["problem"].is_null());
    // The test model has no int8 graphs: the status says so instead of running another.
    let status = t.json(&["--precision", "int8", "status", "--json"]);
    assert_eq!(status["model"]["precision"], "int8");
    let problem = status["model"]["problem"].as_str().unwrap();
    assert!(problem.contains("int8"), "{problem}");
}

#[test]
fn optimized_graphs_are_cached_and_reused_on_the_next_start() {
    let t = indexed_library();
    let cache = t.library().join("cache/ort/test-color");
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(cached.len(), 2, "one optimized graph per model graph: {cached:?}");
    assert!(cached.iter().all(|n| n.to_string_lossy().contains("-CPU-")), "{cached:?}");
    let out = t.run(&["-v", "search", "red"]);
    assert!(out.status.success());
    let log = util::stderr(&out);
    assert!(log.contains("vision model: using the cached optimized graph"), "{log}");
    assert!(log.contains("text model: using the cached optimized graph"), "{log}");
}

#[test]
fn batch_size_is_tuned_once_per_library_and_remembered() {
    let t = indexed_library();
    let path = t.library().join("cache/batch-sizes.json");
    let tuned: std::collections::BTreeMap<String, usize> =
        serde_json::from_slice(&std::fs::read(&path).expect("batch sizes remembered")).unwrap();
    assert_eq!(tuned.len(), 1, "{tuned:?}");
    let (key, batch) = tuned.iter().next().unwrap();
    assert!(key.starts_with("test-color-fp32-CPU-"), "{key}");
    assert!([4, 8, 16].contains(batch), "{batch}");

    // A configured batch size is used as it is, and nothing new is measured.
    let other = t.path("other");
    write_colour_photos(&other, 1);
    image::RgbImage::from_pixel(50, 50, image::Rgb([1, 2, 3])).save(other.join("dark.png")).unwrap();
    let out = t.ok(&["--batch-size", "3", "--workers", "1", "index", other.to_str().unwrap()]);
    assert!(out.contains("indexed 1, moved 0, duplicates 4"), "{out}");
    let after: std::collections::BTreeMap<String, usize> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(after, tuned);
}

#[test]
fn filters_narrow_results_by_folder_and_format() {
    let t = indexed_library();
    let other = t.path("more");
    write_colour_photos(&other, 1);
    image::RgbImage::from_pixel(64, 64, image::Rgb([220, 20, 20])).save(other.join("red.png")).unwrap();
    t.ok(&["index", other.to_str().unwrap()]);

    let in_more = t.json(&["search", "red", "--folder", other.to_str().unwrap(), "--json"]);
    assert!(in_more.as_array().unwrap().iter().all(|h| h["path"].as_str().unwrap().contains("/more/")));
    assert_eq!(in_more.as_array().unwrap().len(), 5);

    let pngs = hit_names(&t.json(&["search", "red", "--format", "png", "--json"]));
    assert_eq!(pngs, vec!["red.png".to_string()]);

    let none = t.json(&["search", "red", "--to", "1990-01-01", "--json"]);
    assert!(none.as_array().unwrap().is_empty());
}

#[test]
fn removed_folder_leaves_the_library() {
    let t = indexed_library();
    let out = t.ok(&["folders", "remove", t.path("photos").to_str().unwrap()]);
    assert!(out.contains("15 photos"), "{out}");
    assert!(t.json(&["search", "red", "--json"]).as_array().unwrap().is_empty());
    assert!(t.path("photos/red0.jpg").is_file(), "files on disk must be untouched");
}

#[test]
fn results_can_be_listed_for_xargs_and_exported_to_a_folder() {
    let t = indexed_library();
    let out = t.run(&["search", "red", "-n", "3", "--paths0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let paths: Vec<&[u8]> = out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()).collect();
    assert_eq!(paths.len(), 3);
    assert!(
        out.stdout.ends_with(b"\0")
            && paths.iter().all(|p| std::path::Path::new(std::str::from_utf8(p).unwrap()).is_file())
    );

    let folder = t.path("export");
    let out = t.run(&["search", "red", "-n", "3", "--export", folder.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 3 photos"));
    let mut names: Vec<String> =
        std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("red")), "{names:?}");
    // Again: nothing is copied twice.
    let out = t.run(&["search", "red", "-n", "3", "--export", folder.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exported 0 photos")
            && String::from_utf8_lossy(&out.stderr).contains("3 already there")
    );
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 3);
}
