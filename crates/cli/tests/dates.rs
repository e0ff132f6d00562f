//! Dates in a query become a filter ("red 2019", "red in december"), the rest stays the query.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::time::{Duration, UNIX_EPOCH};

use util::{TestDir, hit_names, stderr, write_colour_photos};

/// Unix seconds of a day at noon.
fn day(year: i32, month: u32, d: u32) -> u64 {
    let days = [(2019, 7, 15, 18092), (2021, 3, 10, 18696), (2021, 12, 5, 18966), (2022, 6, 1, 19144)];
    let (_, _, _, n) = days.iter().find(|(y, m, dd, _)| (*y, *m, *dd) == (year, month, d)).expect("a known day");
    n * 86_400 + 12 * 3600
}

#[test]
fn dates_in_the_query_filter_the_photos_and_literal_turns_them_off() {
    let t = TestDir::new();
    let photos = t.path("photos");
    write_colour_photos(&photos, 4);
    // No EXIF in these photos: the file time is the date taken.
    for (i, when) in [day(2019, 7, 15), day(2021, 3, 10), day(2021, 12, 5), day(2022, 6, 1)].iter().enumerate() {
        for colour in ["red", "blue", "green", "yellow"] {
            let file = std::fs::File::options().write(true).open(photos.join(format!("{colour}{i}.jpg"))).unwrap();
            file.set_modified(UNIX_EPOCH + Duration::from_secs(*when)).unwrap();
        }
    }
    t.ok(&["index", photos.to_str().unwrap()]);
    let search = |args: &[&str]| {
        let out = t.run(&[&["search", "--json", "-n", "20"][..], args].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        (hit_names(&serde_json::from_slice(&out.stdout).unwrap()), stderr(&out))
    };

    let (hits, said) = search(&["red", "2019"]);
    assert_eq!(hits.len(), 4, "only the photos of 2019: {hits:?}");
    assert!(hits.iter().all(|h| h.ends_with("0.jpg")) && hits[0] == "red0.jpg", "{hits:?}");
    assert!(said.contains("understood: Taken: 2019"), "{said}");

    let (hits, said) = search(&["red", "march", "2021"]);
    assert_eq!(hits.len(), 4, "{hits:?}");
    assert!(hits.iter().all(|h| h.ends_with("1.jpg")) && hits[0] == "red1.jpg", "{hits:?}");
    assert!(said.contains("understood: Taken: March 2021"), "{said}");

    let (hits, _) = search(&["red", "in", "december"]);
    assert!(hits.iter().all(|h| h.ends_with("2.jpg")) && hits[0] == "red2.jpg", "{hits:?}");
    let (hits, _) = search(&["red", "in", "summer"]);
    assert_eq!(hits.len(), 8, "July 2019 and June 2022: {hits:?}");

    // Words that only look like a date, and --literal, keep every photo.
    let (hits, said) = search(&["red", "--literal", "2019"]);
    assert_eq!(hits.len(), 16, "{hits:?}");
    assert!(!said.contains("understood"), "{said}");
    let (hits, _) = search(&["1984", "red", "poster"]);
    assert_eq!(hits.len(), 16, "{hits:?}");
}
