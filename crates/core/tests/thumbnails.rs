//! Thumbnails come from the same decode as the embedding, upright whatever the EXIF orientation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::path::Path;

use image::RgbImage;
use photo_search_core::library::Access;
use photo_search_core::models::ModelChoice;
use photo_search_core::{Engine, EngineOptions};

fn engine(library: &Path) -> Engine {
    let options =
        EngineOptions::new(library.into(), ModelChoice::Dir(util::repo().join("models/test-color")), Access::Write);
    Engine::open(options).unwrap()
}

fn load(path: &Path) -> RgbImage {
    image::open(path).unwrap().into_rgb8()
}

/// Mean absolute difference per channel value, after resizing `b` to `a`'s size.
fn difference(a: &RgbImage, b: &RgbImage) -> f64 {
    let b = image::imageops::resize(b, a.width(), a.height(), image::imageops::FilterType::Triangle);
    let total: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    total as f64 / a.as_raw().len() as f64
}

#[test]
fn thumbnails_of_every_exif_orientation_come_out_upright_and_alike() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir.path().join("library"));
    let photos = util::shared().join("photos/orientation/recurser");
    let folder = dir.path().join("photos");
    std::fs::create_dir_all(&folder).unwrap();
    for kind in ["Landscape", "Portrait"] {
        for n in 1..=8 {
            let name = format!("{kind}_{n}.jpg");
            std::fs::copy(photos.join(&name), folder.join(&name)).unwrap();
        }
    }
    let summary = engine.index(std::slice::from_ref(&folder), &mut |_| {}).unwrap();
    assert_eq!(summary.indexed, 16);

    for kind in ["Landscape", "Portrait"] {
        let thumb = |n: u32| {
            let id = engine.photo_id(&folder.join(format!("{kind}_{n}.jpg"))).unwrap().unwrap();
            load(&engine.thumbnail_path(id).unwrap().expect("thumbnail written"))
        };
        let upright = thumb(1);
        assert_eq!(upright.width().max(upright.height()), 320);
        assert_eq!(upright.width() > upright.height(), kind == "Landscape");
        // The check must be able to fail: a rotated thumbnail differs a lot.
        let rotated = image::imageops::rotate180(&upright);
        let wrong = difference(&upright, &rotated);
        for n in 2..=8 {
            let other = thumb(n);
            assert_eq!(other.dimensions(), upright.dimensions(), "{kind}_{n}");
            let d = difference(&upright, &other);
            assert!(d < wrong / 4.0, "{kind}_{n} differs from {kind}_1 by {d} (a 180° turn differs by {wrong})");
        }
    }
}

#[test]
fn renamed_and_duplicate_files_share_one_thumbnail() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir.path().join("library"));
    let folder = dir.path().join("photos");
    std::fs::create_dir_all(&folder).unwrap();
    let src = util::shared().join("photos/orientation/recurser/Landscape_1.jpg");
    std::fs::copy(&src, folder.join("a.jpg")).unwrap();
    std::fs::copy(&src, folder.join("b.jpg")).unwrap();
    engine.index(std::slice::from_ref(&folder), &mut |_| {}).unwrap();
    let thumb = |name: &str| engine.thumbnail_path(engine.photo_id(&folder.join(name)).unwrap().unwrap()).unwrap();
    assert_eq!(thumb("a.jpg"), thumb("b.jpg"));
    let count = walkdir_count(&dir.path().join("library/thumbs"));
    assert_eq!(count, 1);
}

fn walkdir_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walkdir_count(&p) } else { 1 })
        .sum()
}
