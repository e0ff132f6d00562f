//! Exact duplicates and similar shots, apart: byte copies, a re-encoded copy, distinct shots and a
//! chain of similar colours (red ~ orange ~ yellow, red and yellow far apart).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use image::{Rgb, RgbImage};
use util::{TestDir, stderr};

fn groups(value: &serde_json::Value) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut names: Vec<String> = g
                .as_array()
                .unwrap()
                .iter()
                .map(|p| std::path::Path::new(p.as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        })
        .collect();
    groups.sort();
    groups
}

#[test]
fn byte_copies_re_encoded_copies_and_distinct_shots_land_in_the_right_groups() {
    let t = TestDir::new();
    let photos = t.path("photos");
    std::fs::create_dir_all(photos.join("copies")).unwrap();
    let save = |name: &str, rgb: [u8; 3]| {
        RgbImage::from_fn(160, 120, |x, y| {
            let noise = ((x * 7 + y * 13) % 11) as i32 - 5;
            Rgb(rgb.map(|c| (c as i32 + noise).clamp(0, 255) as u8))
        })
        .save(photos.join(name))
        .unwrap();
    };
    save("red.jpg", [210, 35, 30]);
    save("orange.jpg", [220, 120, 30]);
    save("yellow.jpg", [215, 200, 40]);
    save("blue.jpg", [30, 45, 200]);
    save("green.jpg", [40, 150, 45]);
    std::fs::copy(photos.join("red.jpg"), photos.join("copies/red.jpg")).unwrap();
    image::open(photos.join("red.jpg")).unwrap().save(photos.join("copies/red-reencoded.png")).unwrap();
    t.ok(&["index", photos.to_str().unwrap()]);

    let run = |args: &[&str]| {
        let out = t.run(&[&["duplicates", "--json"][..], args].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let found = run(&[]);
    // The byte copy only: the re-encoded copy has other bytes.
    assert_eq!(groups(&found["exact"]), vec![vec!["red.jpg".to_string(), "red.jpg".to_string()]]);
    assert!(found["similar"].is_null());

    let found = run(&["--similar", "near-identical"]);
    assert_eq!(
        groups(&found["similar"]),
        vec![vec!["red-reencoded.png".to_string(), "red.jpg".to_string(), "red.jpg".to_string()]],
        "the copies of one shot, and nothing else"
    );

    // Looser: red ~ orange ~ yellow is a chain; red and yellow are far apart, so no group
    // holds both.
    let found = run(&["--similar", "related"]);
    let similar = groups(&found["similar"]);
    assert!(similar.iter().any(|g| g.contains(&"orange.jpg".to_string())), "{similar:?}");
    assert!(
        !similar.iter().any(|g| g.contains(&"red.jpg".to_string()) && g.contains(&"yellow.jpg".to_string())),
        "{similar:?}"
    );
    assert!(!similar.iter().flatten().any(|n| n == "blue.jpg" || n == "green.jpg"), "{similar:?}");

    // Text output for people.
    let out = t.ok(&["duplicates"]);
    assert!(out.starts_with("exact duplicates (the same bytes): 1 group"), "{out}");
}
