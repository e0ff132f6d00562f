//! Where strong matches end, per query, on the colour model: a library of mostly grey photos
//! with a few strongly coloured ones, as most photos of a real library are not about a query.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use image::{Rgb, RgbImage};
use util::{TestDir, hit_names};

/// 4 red, 4 blue and 4 green photos among 32 grey ones of different brightness and tint.
fn library() -> TestDir {
    let t = TestDir::new();
    let photos = t.path("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let save = |name: String, rgb: [u8; 3], i: u32| {
        RgbImage::from_fn(160, 120, |x, y| {
            let noise = ((x * 7 + y * 13 + i * 31) % 21) as i32 - 10;
            Rgb(rgb.map(|c| (c as i32 + noise).clamp(0, 255) as u8))
        })
        .save(photos.join(name))
        .unwrap();
    };
    for i in 0..4 {
        save(format!("red{i}.jpg"), [210, 35 + i as u8 * 5, 30], i);
        save(format!("blue{i}.jpg"), [30, 45, 200 + i as u8 * 5], i);
        save(format!("green{i}.jpg"), [40, 150 + i as u8 * 5, 45], i);
    }
    for i in 0..32u32 {
        let level = 40 + (i * 6) as u8;
        let tint = (i % 5) as u8;
        save(format!("grey{i:02}.jpg"), [level + tint, level, level + 4 - tint], i);
    }
    t.ok(&["index", photos.to_str().unwrap()]);
    t
}

#[test]
fn a_colour_query_shows_its_photos_above_the_cut_and_the_rest_after_it() {
    let t = library();
    let out = t.ok(&["search", "red", "-n", "10"]);
    let lines: Vec<&str> = out.lines().collect();
    let cut = lines.iter().position(|l| *l == "-- weaker matches --").unwrap_or_else(|| panic!("no cut:\n{out}"));
    assert_eq!(cut, 4, "the four red photos are the strong matches:\n{out}");
    assert!(lines[..4].iter().all(|l| l.contains("/red")), "{out}");
    assert!(!out.contains("no close matches"), "{out}");

    // The same cut for another colour, from its own scores.
    let out = t.ok(&["search", "a photo of something blue", "-n", "10"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.iter().position(|l| *l == "-- weaker matches --"), Some(4), "{out}");
    assert!(lines[..4].iter().all(|l| l.contains("/blue")), "{out}");
    // JSON output stays the plain list of hits.
    let names = hit_names(&t.json(&["search", "red", "-n", "10", "--json"]));
    assert_eq!(names.len(), 10);
}

#[test]
fn a_query_the_photos_do_not_differ_in_says_there_are_no_close_matches() {
    let t = library();
    // The colour model understands colour words only: "dog" scores every photo the same.
    let out = t.ok(&["search", "dog", "-n", "5"]);
    assert!(out.starts_with("no close matches; the closest results:"), "{out}");
    assert!(!out.contains("-- weaker matches --"), "{out}");
}
