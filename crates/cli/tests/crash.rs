//! `kill -9` in the middle of indexing, at several known points (a run stalls after its Nth
//! committed batch, then is killed): on restart the catalog and the index agree, exactly the
//! committed photos are there, indexing resumes where it stopped, and no photo is lost or
//! indexed twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::collections::HashSet;
use std::io::BufRead;
use std::time::Duration;

use image::{Rgb, RgbImage};
use util::TestDir;

const PHOTOS: usize = 48;

/// Distinct photos: a quarter of them each colour.
fn write_photos(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..PHOTOS {
        let (name, rgb) = util::COLOURS[i % util::COLOURS.len()];
        let img = RgbImage::from_fn(320, 240, |x, y| {
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

    for stall_after in [1usize, 3, 5, 8] {
        let before = indexed_count(&t);
        let mut child = t.spawn_with_env(
            &["--batch-size", "2", "--workers", "1", "index"],
            &[("PHOTO_SEARCH_STALL_AFTER_BATCHES", stall_after.to_string())],
        );
        // Waits (on another thread, so a run that never stalls fails the test instead of
        // hanging it) for the run to say it stalled.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.starts_with("stalled after") && tx.send(line).is_err() {
                    return;
                }
            }
        });
        let said = rx.recv_timeout(Duration::from_secs(120));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_eq!(said.as_deref(), Ok(format!("stalled after {stall_after} batches").as_str()));
        let after = indexed_count(&t);
        assert_eq!(after, before + 2 * stall_after as u64, "exactly the committed batches survive the kill");
    }

    let before_resume = indexed_count(&t);
    let out = t.ok(&["index"]);
    let encoded: u64 = out.split("indexed ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert_eq!(before_resume, 2 * (1 + 3 + 5 + 8), "the killed runs' photos are kept");
    assert_eq!(encoded, PHOTOS as u64 - before_resume, "resume encodes exactly what is missing: {out}");

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
    assert!(t.ok(&["index"]).contains(&format!("unchanged {PHOTOS}")));
}
