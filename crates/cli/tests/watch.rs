//! `photo-search watch`: the catalog follows the folder. Each check waits for the eventual state
//! (never the order of raw events) within a timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::{Rgb, RgbImage};
use util::TestDir;

const TIMEOUT: Duration = Duration::from_secs(30);

struct Watching {
    child: Child,
}

impl Drop for Watching {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // Best effort cleanup of a failed test; a passing test stops the child itself.
            if let Err(err) = self.child.kill() {
                eprintln!("cannot stop the watcher: {err}");
            }
        }
    }
}

fn start(t: &TestDir) -> Watching {
    let child = Command::new(env!("CARGO_BIN_EXE_photo-search"))
        .arg("--library")
        .arg(t.library())
        .arg("--model")
        .arg(util::test_model())
        .arg("watch")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Watching { child }
}

/// File names (relative to `root`) of every indexed photo, with the colour it is found as.
fn indexed(t: &TestDir, root: &Path) -> BTreeSet<String> {
    let out = t.run(&["search", "red", "-n", "1000", "--json"]);
    if !out.status.success() {
        return BTreeSet::new();
    }
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    hits.as_array()
        .map(|hits| {
            hits.iter()
                .map(|h| Path::new(h["path"].as_str().unwrap()).strip_prefix(root).unwrap().display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < TIMEOUT, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn photo(rgb: [u8; 3]) -> Vec<u8> {
    let img = RgbImage::from_fn(640, 480, |x, y| Rgb(rgb.map(|c| c.saturating_add(((x + y) % 7) as u8))));
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    bytes
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn watched_folder_changes_reach_the_catalog() {
    let t = TestDir::new();
    let root = t.path("photos");
    util::write_colour_photos(&root, 1);
    t.ok(&["folders", "add", root.to_str().unwrap()]);
    let root = root.canonicalize().unwrap();
    let mut watching = start(&t);
    eventually("the initial index", || indexed(&t, &root).len() == 4);

    // Create, modify, rename, delete.
    fs::write(root.join("new-blue.jpg"), photo([20, 30, 220])).unwrap();
    fs::write(root.join("red0.jpg"), photo([30, 170, 40])).unwrap();
    fs::rename(root.join("yellow0.jpg"), root.join("sun.jpg")).unwrap();
    fs::remove_file(root.join("blue0.jpg")).unwrap();
    // A new subfolder, and folders that must be ignored.
    for dir in ["trip", ".hidden", "@eaDir"] {
        fs::create_dir_all(root.join(dir)).unwrap();
        fs::write(root.join(dir).join("x.jpg"), photo([200, 200, 30])).unwrap();
    }
    // A file written slowly, in chunks: never read half-written.
    let bytes = photo([220, 20, 200]);
    let mut slow = fs::File::create(root.join("slow.jpg")).unwrap();
    for chunk in bytes.chunks(bytes.len() / 4 + 1) {
        slow.write_all(chunk).unwrap();
        slow.flush().unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    drop(slow);

    let expected = set(&["green0.jpg", "new-blue.jpg", "red0.jpg", "slow.jpg", "sun.jpg", "trip/x.jpg"]);
    eventually("every change indexed", || indexed(&t, &root) == expected);
    let status = t.json(&["status", "--json", "--failed"]);
    assert_eq!(status["photos"]["failed"], 0, "{status}");
    // The modified file is now found as green.
    let greens = util::hit_names(&t.json(&["search", "green", "-n", "2", "--json"]));
    assert!(greens.contains(&"red0.jpg".to_string()), "{greens:?}");

    // Ctrl-C stops cleanly.
    let pid = watching.child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = std::mem::replace(&mut watching.child, Command::new("true").spawn().unwrap()).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "watch exited with {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("stopped; the index is saved"), "{stdout}");
    assert!(t.ok(&["index"]).contains("indexed 0, moved 0, duplicates 0, unchanged 6"));
}

/// `count` distinct small PNGs named `<prefix><i>.png` in `dir` (`salt` tells sets apart).
fn write_small_photos(dir: &Path, prefix: &str, count: u32, salt: u8) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        let img = RgbImage::from_fn(32, 24, |x, y| {
            Rgb([(i % 251) as u8, (i / 251 * 40 + x) as u8, ((y * 4) as u8).wrapping_add(salt)])
        });
        img.save(dir.join(format!("{prefix}{i:04}.png"))).unwrap();
    }
}

fn indexed_count(t: &TestDir) -> u64 {
    let out = t.run(&["status", "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|s| s["photos"]["indexed"].as_u64())
        .unwrap_or(0)
}

#[test]
fn a_folder_of_many_photos_dropped_into_a_large_watched_library_is_indexed_whole() {
    let t = TestDir::new();
    let root = t.path("photos");
    write_small_photos(&root.join("old"), "old", 600, 0);
    t.ok(&["index", root.to_str().unwrap()]);
    let watching = start(&t);
    std::thread::sleep(Duration::from_secs(2));

    // A phone's folder arrives at once: written beside the library, then moved in.
    let staging = t.path("staging/phone");
    write_small_photos(&staging, "new", 300, 128);
    fs::rename(&staging, root.join("phone")).unwrap();
    // And single files copied in, one by one.
    for i in 0..20u32 {
        let img = RgbImage::from_fn(32, 24, |x, y| Rgb([200, (i * 11 + x) as u8, (y * 5) as u8]));
        img.save(root.join(format!("copied{i:02}.png"))).unwrap();
    }
    eventually("every new photo indexed", || indexed_count(&t) == 920);
    let status = t.json(&["status", "--json"]);
    assert_eq!(status["photos"]["failed"], 0, "{status}");
    assert_eq!(status["index"]["vectors"], 920, "{status}");
    drop(watching);
}
