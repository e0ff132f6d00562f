//! Places in a query ("red in madrid") and the place filter, from the GPS positions of the camera
//! photos in ../shared/photos/camera through the offline geocoder.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use util::{TestDir, hit_names, shared, stderr};

#[test]
fn places_named_in_the_query_or_chosen_filter_the_photos() {
    let t = TestDir::new();
    t.ok(&["index", shared().join("photos/camera").to_str().unwrap()]);
    let search = |args: &[&str]| {
        let out = t.run(&[&["search", "--json", "-n", "50"][..], args].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        (hit_names(&serde_json::from_slice(&out.stdout).unwrap()), stderr(&out))
    };
    let (all, _) = search(&["red"]);
    assert!(all.len() > 20, "{all:?}");

    // One photo was taken in Madrid (Moncloa-Aravaca), two in England (St Albans, Hackney).
    let (hits, said) = search(&["red", "in", "madrid"]);
    assert_eq!(hits, ["exs__jpg__hdr__iphone_hdr_NO.jpg"], "{said}");
    assert!(said.contains("understood: Place: Madrid"), "{said}");
    let (mut hits, _) = search(&["red", "in", "the", "uk"]);
    hits.sort();
    assert_eq!(hits, ["Apple_iPhone_6.jpg", "Nexus_4.jpg"]);
    let (hits, _) = search(&["red", "--place", "france"]);
    assert_eq!(hits, ["Samsung_SM-G935L_(Galaxy_S7_Edge).jpg"]);
    // A place with no photos, and --literal, filter nothing.
    let (hits, said) = search(&["red", "in", "paris"]);
    assert_eq!(hits.len(), all.len());
    assert!(!said.contains("Place"), "{said}");
    let (hits, _) = search(&["--literal", "red", "in", "madrid"]);
    assert_eq!(hits.len(), all.len());
}
