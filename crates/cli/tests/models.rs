//! Pipeline variants other than CLIP's, end to end through the real ONNX Runtime: models/test-squash
//! has SigLIP's interface (squashed preprocessing, a SentencePiece tokenizer padded to a fixed
//! length, 768-d `pooler_output`s).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use image::{Rgb, RgbImage};
use util::{TestDir, hit_names, repo, stderr, write_colour_photos};

/// A wide photo, red at both ends and blue in its middle third: squashed to a square it is
/// mostly red; center-cropped (CLIP) it is all blue.
fn library_with_a_wide_photo(t: &TestDir, model: &std::path::Path) {
    let photos = t.path("photos");
    write_colour_photos(&photos, 2);
    let wide =
        RgbImage::from_fn(
            900,
            300,
            |x, _| if (300..600).contains(&x) { Rgb([30, 45, 200]) } else { Rgb([210, 35, 30]) },
        );
    wide.save(photos.join("wide.jpg")).unwrap();
    let out = t.run_with_model(model, &["index", photos.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn ranking(t: &TestDir, model: &std::path::Path, query: &str) -> Vec<String> {
    let out = t.run_with_model(model, &["search", query, "-n", "20", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    hit_names(&serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn a_siglip_shaped_model_indexes_and_searches_end_to_end() {
    let t = TestDir::new();
    let model = repo().join("models/test-squash");
    library_with_a_wide_photo(&t, &model);
    let status: serde_json::Value =
        serde_json::from_slice(&t.run_with_model(&model, &["status", "--json"]).stdout).unwrap();
    assert_eq!(status["model"]["id"], "test-squash");
    assert_eq!(status["photos"]["indexed"], 9);

    // The SentencePiece tokenizer finds the colour word in a sentence, in any case.
    let blue = ranking(&t, &model, "a photo of a Blue car");
    assert!(blue[..2].iter().all(|n| n.starts_with("blue")), "{blue:?}");
    // Squashed, the wide photo counts its red ends: it comes right after the red photos.
    let red = ranking(&t, &model, "red");
    assert!(red[..2].iter().all(|n| n.starts_with("red")), "{red:?}");
    assert_eq!(red[2], "wide.jpg", "{red:?}");
}

#[test]
fn a_center_cropping_model_sees_only_the_wide_photos_middle() {
    // The contrast that makes the test above mean something: CLIP's crop keeps the blue middle.
    let t = TestDir::new();
    let model = repo().join("models/test-color");
    library_with_a_wide_photo(&t, &model);
    let red = ranking(&t, &model, "red");
    let wide = red.iter().position(|n| n == "wide.jpg").unwrap();
    let first_blue = red.iter().position(|n| n.starts_with("blue")).unwrap();
    assert!(wide > 2 && wide.abs_diff(first_blue) <= 2, "cropped, the wide photo ranks with the blue ones: {red:?}");
}

#[test]
fn another_models_vectors_can_be_removed_but_not_the_librarys_own() {
    let t = TestDir::new();
    let squash = repo().join("models/test-squash");
    // Indexed with test-color (the library's model, recorded by the first run), then test-squash.
    write_colour_photos(&t.path("photos"), 1);
    t.ok(&["index", t.path("photos").to_str().unwrap()]);
    let out = t.run_with_model(&squash, &["index"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = t.ok(&["models", "remove-vectors"]);
    assert!(listed.contains("test-color  4 vectors") && listed.contains("test-squash  4 vectors"), "{listed}");

    let refused = t.run(&["models", "remove-vectors", "test-color"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the model this library searches with"));

    let out = t.ok(&["models", "remove-vectors", "test-squash"]);
    assert!(out.contains("removed 4 vectors of test-squash"), "{out}");
    assert!(!t.library().join("index/test-squash.usearch").exists());
    let listed = t.ok(&["models", "remove-vectors"]);
    assert!(!listed.contains("test-squash"), "{listed}");
    // The library's own model still searches.
    assert!(ranking(&t, &repo().join("models/test-color"), "red")[0].starts_with("red"));
}

fn ranking_of(t: &TestDir, query: &str) -> Vec<String> {
    hit_names(&t.json(&["search", query, "-n", "20", "--json"]))
}

#[test]
fn a_multilingual_query_encoder_searches_the_same_photo_vectors() {
    // test-color's `multilingual` query encoder is mean-pooled token states through a dense
    // projection into test-color's image space (the shape of clip-ViT-B-32-multilingual-v1).
    let t = TestDir::new();
    write_colour_photos(&t.path("photos"), 2);
    t.ok(&["index", t.path("photos").to_str().unwrap()]);
    let index_file = t.library().join("index/test-color.usearch");
    let saved = std::fs::metadata(&index_file).unwrap().modified().unwrap();
    assert!(t.ok(&["models", "queries"]).contains("* default"));

    let out = t.ok(&["models", "queries", "multilingual"]);
    assert!(out.contains("no photo is re-encoded"), "{out}");
    assert!(t.ok(&["models", "queries"]).contains("* multilingual"));
    for (query, colour) in
        [("rot", "red"), ("rouge", "red"), ("eine rote Blume", "red"), ("bleu", "blue"), ("verde", "green")]
    {
        let hits = ranking_of(&t, query);
        assert!(hits[..2].iter().all(|n| n.starts_with(colour)), "{query}: {hits:?}");
    }
    let status = t.json(&["status", "--json"]);
    assert_eq!(status["model"]["query_encoder"], "multilingual");
    assert_eq!(status["index"]["vectors"], 8, "no photo gained or lost a vector");
    assert_eq!(std::fs::metadata(&index_file).unwrap().modified().unwrap(), saved, "the photo index is untouched");

    t.ok(&["models", "queries", "default"]);
    assert!(t.ok(&["models", "queries"]).contains("* default"));
    let hits = ranking_of(&t, "red");
    assert!(hits[..2].iter().all(|n| n.starts_with("red")), "{hits:?}");
    let unknown = t.run(&["models", "queries", "klingon"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("no query encoder 'klingon' (it has: multilingual)"), "{}", stderr(&unknown));
}

#[test]
fn a_query_encoder_whose_files_are_missing_or_altered_is_never_used() {
    let t = TestDir::new();
    let model = t.path("model");
    copy_dir(&repo().join("models/test-color"), &model);
    std::fs::copy(repo().join("models/test-color.toml"), model.join("manifest.toml")).unwrap();
    write_colour_photos(&t.path("photos"), 1);
    let out = t.run_with_model(&model, &["index", t.path("photos").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = t.run_with_model(&model, &["models", "queries", "multilingual"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let dense = model.join("multilingual/2_Dense/model.safetensors");
    let bytes = std::fs::read(&dense).unwrap();
    std::fs::remove_file(&dense).unwrap();
    let out = t.run_with_model(&model, &["search", "rot"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not downloaded") && stderr(&out).contains("2_Dense"), "{}", stderr(&out));

    let mut altered = bytes.clone();
    *altered.last_mut().unwrap() ^= 1;
    std::fs::write(&dense, altered).unwrap();
    let out = t.run_with_model(&model, &["search", "rot"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("sha256"), "{}", stderr(&out));

    std::fs::write(&dense, bytes).unwrap();
    let out = t.run_with_model(&model, &["search", "rot", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let dest = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

#[test]
fn switching_models_keeps_searching_with_the_old_one_until_the_new_one_covers_the_library() {
    // test-color center-crops (the wide photo ranks with the blue ones for "red"); test-squash
    // squashes (it comes right after the red photos): the ranking shows which model answers.
    let t = TestDir::new();
    let color = repo().join("models/test-color");
    let squash = repo().join("models/test-squash");
    library_with_a_wide_photo(&t, &color);
    let bare = |args: &[&str]| {
        let out = t.run_bare(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let wide_rank = || {
        let hits = hit_names(&serde_json::from_str(&bare(&["search", "red", "-n", "20", "--json"])).unwrap());
        hits.iter().position(|n| n == "wide.jpg").unwrap()
    };
    assert!(wide_rank() > 2);

    let out = bare(&["models", "use", squash.to_str().unwrap()]);
    assert!(out.contains("switching to test-squash") && out.contains("embeds 9 photos"), "{out}");
    // During the switch searches answer from test-color.
    assert!(wide_rank() > 2);
    let status: serde_json::Value = serde_json::from_str(&bare(&["status", "--json"])).unwrap();
    assert_eq!(
        (status["model"]["id"].as_str(), status["switching_to"].as_str()),
        (Some("test-color"), Some("test-squash"))
    );
    // The vectors of the model being switched to cannot be removed.
    assert!(!t.run_bare(&["models", "remove-vectors", "test-squash"]).status.success());

    let out = bare(&["index"]);
    assert!(out.contains("now searches with test-squash"), "{out}");
    assert_eq!(wide_rank(), 2);
    let status: serde_json::Value = serde_json::from_str(&bare(&["status", "--json"])).unwrap();
    assert_eq!((status["model"]["id"].as_str(), status["switching_to"].as_str()), (Some("test-squash"), None));

    // Switching back is instant: test-color's vectors still cover the library.
    let out = bare(&["models", "use", color.to_str().unwrap()]);
    assert!(out.contains("now searches with test-color"), "{out}");
    assert!(wide_rank() > 2);
    let out = bare(&["index"]);
    assert!(out.contains("indexed 0,"), "nothing is re-encoded: {out}");
    let counts = bare(&["models", "remove-vectors"]);
    assert!(counts.contains("test-color  9 vectors") && counts.contains("test-squash  9 vectors"), "{counts}");
}
