//! `kill -9` in the middle of indexing, at several points: on restart the catalog and the index
//! agree, indexing resumes where it stopped, and no photo is lost or indexed twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use image::{Rgb, RgbImage};
use util::TestDir;

const PHOTOS: usize = 48;

/// Distinct photos large enough that indexing takes a while: a quarter of them each colour.
fn write_photos(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..PHOTOS {
        let (name, rgb) = util::COLOURS[i % util::COLOURS.len()];
        let img = RgbImage::from_fn(1600, 1200, |x, y| {
            let noise = ((x * 7 + y * 13 + i as u32 * 31) % 41) as i32 - 20;
            Rgb(rgb.map(|c| (c as i32 + noise).clamp(0, 255) as u8))
        });
        img.save(dir.join(format!("{name}-{i:03}.jpg"))).unwrap();
    }
}

fn indexed_count(t: &TestDir) -> u64 {
    t.json(&["status", "--json"])["photos"]["indexed"].as_u64().unwrap()
}

#[test]
fn kill_9_during_index_loses_nothing_and_resumes() {
    let t = TestDir::new();
    let photos = t.path("photos");
    write_photos(&photos);
    t.ok(&["folders", "add", photos.to_str().unwrap()]);

    let mut kills = 0;
    let mut saw_partial = false;
    for delay_ms in [250u64, 500, 800, 1200, 1700] {
        let before = indexed_count(&t);
        let mut child = t.spawn(&["--batch-size", "2", "--workers", "1", "index"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let after = indexed_count(&t);
        assert!(after >= before, "committed work must survive a kill ({before} -> {after})");
        saw_partial |= after > before && after < PHOTOS as u64;
        eprintln!("killed after {delay_ms} ms: {before} -> {after} indexed");
    }
    assert!(kills > 0, "indexing finished before any kill: the test proves nothing");

    let before_resume = indexed_count(&t);
    let out = t.ok(&["index"]);
    let encoded: u64 = out.split("indexed ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert_eq!(encoded, PHOTOS as u64 - before_resume, "resume encodes exactly what is missing: {out}");
    if saw_partial {
        assert!(encoded < PHOTOS as u64, "{out}");
    }

    let status = t.json(&["status", "--json"]);
    assert_eq!(status["photos"]["total"], PHOTOS);
    assert_eq!(status["photos"]["indexed"], PHOTOS);
    assert_eq!(status["index"]["vectors"], PHOTOS);
    let hits = t.json(&["search", "red", "-n", "100", "--json"]);
    let hits = hits.as_array().unwrap();
    let ids: HashSet<i64> = hits.iter().map(|h| h["id"].as_i64().unwrap()).collect();
    assert_eq!(hits.len(), PHOTOS, "every photo is in the index exactly once");
    assert_eq!(ids.len(), PHOTOS);
    let reds = hits.iter().take(PHOTOS / 4).filter(|h| h["path"].as_str().unwrap().contains("/red-")).count();
    assert_eq!(reds, PHOTOS / 4);

    // The index file on disk agrees with the catalog once a writer has run.
    let started = Instant::now();
    assert!(t.ok(&["index"]).contains(&format!("unchanged {PHOTOS}")));
    assert!(started.elapsed() < Duration::from_secs(30));
}
