//! Incremental indexing that recognises content: renames and moves keep their vectors with no
//! encoding, copies are not encoded twice, an unplugged folder keeps its photos.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::collections::HashMap;
use std::fs;

use util::{TestDir, write_colour_photos};

/// path -> (id, score) of a search over everything.
fn results(t: &TestDir, query: &str) -> HashMap<String, (i64, String)> {
    let hits = t.json(&["search", query, "-n", "100", "--json"]);
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let path = h["path"].as_str().unwrap().to_string();
            (path, (h["id"].as_i64().unwrap(), format!("{:.5}", h["score"].as_f64().unwrap())))
        })
        .collect()
}

#[test]
fn renamed_file_and_moved_folder_keep_their_vectors_without_encoding() {
    let t = TestDir::new();
    let root = t.path("photos");
    write_colour_photos(&root.join("trip"), 2);
    write_colour_photos(&root.join("home"), 1);
    // Make the two sets distinct in content (the home photos are smaller).
    for entry in fs::read_dir(root.join("home")).unwrap() {
        let path = entry.unwrap().path();
        image::open(&path).unwrap().thumbnail(100, 100).save(&path).unwrap();
    }
    t.ok(&["index", root.to_str().unwrap()]);
    let before = results(&t, "red");

    fs::rename(root.join("trip/red0.jpg"), root.join("trip/sunset.jpg")).unwrap();
    fs::create_dir_all(root.join("archive")).unwrap();
    fs::rename(root.join("home"), root.join("archive/home-2020")).unwrap();
    let out = t.ok(&["index"]);
    assert!(out.contains("indexed 0, moved 5, duplicates 0"), "{out}");
    assert!(out.contains("removed 0"), "{out}");

    let after = results(&t, "red");
    let root = root.to_str().unwrap();
    let renamed = |old: &str| -> String {
        old.replace(&format!("{root}/trip/red0.jpg"), &format!("{root}/trip/sunset.jpg"))
            .replace(&format!("{root}/home/"), &format!("{root}/archive/home-2020/"))
    };
    let expected: HashMap<String, (i64, String)> = before.iter().map(|(p, v)| (renamed(p), v.clone())).collect();
    assert_eq!(after, expected, "same ids and scores under the new paths");
}

#[test]
fn byte_identical_copies_are_encoded_once() {
    let t = TestDir::new();
    let root = t.path("photos");
    write_colour_photos(&root.join("a"), 1);
    // The same files again, in another folder, indexed in the same run.
    write_colour_photos(&root.join("b"), 1);
    let out = t.ok(&["index", root.to_str().unwrap()]);
    assert!(out.contains("indexed 4, moved 0, duplicates 4"), "{out}");

    // A later copy is recognised too.
    fs::copy(root.join("a/blue0.jpg"), root.join("blue-copy.jpg")).unwrap();
    let out = t.ok(&["index"]);
    assert!(out.contains("indexed 0, moved 0, duplicates 1"), "{out}");
    let hits = results(&t, "blue");
    let scores: Vec<&String> = hits.values().filter(|(_, s)| s.starts_with("0.9")).map(|(_, s)| s).collect();
    assert_eq!(scores.len(), 3, "{hits:?}");
    assert!(scores.iter().all(|s| *s == scores[0]), "copies share one vector: {hits:?}");
}

#[test]
fn unavailable_folder_keeps_its_photos_offline() {
    let t = TestDir::new();
    let root = t.path("drive");
    write_colour_photos(&root, 1);
    t.ok(&["index", root.to_str().unwrap()]);

    // "Unplug" the drive.
    fs::rename(&root, t.path("elsewhere")).unwrap();
    let out = t.run(&["index"]);
    assert!(out.status.success());
    assert!(util::stderr(&out).contains("unavailable"), "{}", util::stderr(&out));
    let status = t.json(&["status", "--json"]);
    assert_eq!(status["photos"]["total"], 4);
    assert_eq!(status["photos"]["offline"], 4);
    assert_eq!(results(&t, "red").len(), 4, "offline photos are still found");

    fs::rename(t.path("elsewhere"), &root).unwrap();
    let out = t.ok(&["index"]);
    assert!(out.contains("indexed 0, moved 0, duplicates 0, unchanged 4"), "{out}");
    assert_eq!(t.json(&["status", "--json"])["photos"]["offline"], 0);
}

#[test]
fn excluded_names_are_not_indexed_and_leave_when_excluded_later() {
    let t = TestDir::new();
    let root = t.path("photos");
    write_colour_photos(&root.join("Screenshots"), 1);
    write_colour_photos(&root.join("trip"), 1);
    fs::copy(root.join("trip/red0.jpg"), root.join("trip/red0.tmp.jpg")).unwrap();
    let out = t.ok(&["index", root.to_str().unwrap()]);
    assert!(out.contains("indexed 4, moved 0, duplicates 5"), "{out}");

    let out = t.ok(&["--exclude", "screenshot*", "--exclude", "*.tmp.jpg", "index"]);
    assert!(out.contains("removed 5"), "{out}");
    let paths: Vec<String> = results(&t, "red").into_keys().collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    assert!(paths.iter().all(|p| p.contains("/trip/") && !p.ends_with(".tmp.jpg")), "{paths:?}");
}

#[test]
fn saved_exclude_patterns_apply_to_every_later_run_until_removed() {
    let t = TestDir::new();
    let root = t.path("photos");
    write_colour_photos(&root.join("Screenshots"), 1);
    write_colour_photos(&root.join("trip"), 1);
    t.ok(&["index", root.to_str().unwrap()]);

    let out = t.ok(&["excludes", "add", "Screenshot*"]);
    assert!(out.contains("Screenshot*"), "{out}");
    assert!(t.ok(&["excludes", "list"]).starts_with("Screenshot*\n"));
    let out = t.ok(&["index"]);
    assert!(out.contains("removed 4"), "{out}");
    assert!(results(&t, "red").into_keys().all(|p| p.contains("/trip/")));

    t.ok(&["excludes", "remove", "screenshot*"]);
    assert!(!t.ok(&["excludes", "list"]).contains("Screenshot*"));
    let out = t.ok(&["index"]);
    assert!(out.contains("moved 0, duplicates 4"), "{out}");
    assert!(results(&t, "red").into_keys().any(|p| p.contains("/Screenshots/")));
}
