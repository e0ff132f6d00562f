//! RAW files through their embedded previews: the NEF samples of ../shared/photos/raw, a
//! truncated RW2 from ../shared/bad-inputs/raw, a RAW+JPEG pair, and generated DNG and CR3
//! files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use util::{TestDir, shared};

#[test]
fn nef_files_are_indexed_from_their_previews_and_a_malformed_raw_fails_alone() {
    let t = TestDir::new();
    let photos = t.path("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for entry in std::fs::read_dir(shared().join("photos/raw")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, photos.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::copy(shared().join("bad-inputs/raw/Issue_419.rw2"), photos.join("Issue_419.rw2")).unwrap();
    let out = t.ok(&["index", photos.to_str().unwrap()]);
    assert!(out.contains("indexed 4,") && out.contains("failed 1,"), "{out}");

    let status = t.json(&["status", "--json", "--failed"]);
    let failures = status["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert!(failures[0]["path"].as_str().unwrap().ends_with("Issue_419.rw2"));
    assert!(failures[0]["reason"].as_str().unwrap().contains("rw2"), "{failures:?}");

    // These NEF samples had their raw data stripped, leaving the JPEG preview as the file (the
    // content decides): 2000x3008 as stored.
    let catalog = rusqlite::Connection::open(t.library().join("catalog.sqlite")).unwrap();
    let mut stmt = catalog.prepare("SELECT path, format, width, height FROM photos WHERE status = 'indexed'").unwrap();
    let rows: Vec<(String, String, u32, u32)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    for (path, format, width, height) in &rows {
        assert_eq!(format, "jpeg", "{path}");
        // Upright portraits, at the size stored (decoding them at a reduced scale for the model
        // and the thumbnail does not change what the catalog records).
        assert_eq!((*width, *height), (2000, 3008), "{path}");
    }
}

#[test]
fn a_raw_beside_a_jpeg_of_the_same_name_is_one_photo() {
    let t = TestDir::new();
    let photos = t.path("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::copy(shared().join("photos/raw/Issue_247-1.nef"), photos.join("DSC_0001.NEF")).unwrap();
    std::fs::copy(shared().join("photos/raw/Issue_247-2.nef"), photos.join("DSC_0002.NEF")).unwrap();
    image::RgbImage::from_pixel(64, 48, image::Rgb([200, 30, 30])).save(photos.join("DSC_0001.JPG")).unwrap();
    let out = t.ok(&["index", photos.to_str().unwrap()]);
    assert!(out.contains("indexed 2,"), "the JPEG and the lone NEF: {out}");
    let names = util::hit_names(&t.json(&["search", "red", "--json"]));
    assert!(names.contains(&"DSC_0001.JPG".to_string()) && names.contains(&"DSC_0002.NEF".to_string()), "{names:?}");
    assert!(!names.contains(&"DSC_0001.NEF".to_string()), "{names:?}");
}

/// A minimal DNG: a TIFF whose IFD0 has DNGVersion, an orientation and a JPEG preview (a 400x300
/// red image) through JPEGInterchangeFormat.
fn tiny_dng(orientation: u16) -> Vec<u8> {
    let jpeg = red_jpeg(400, 300);
    let data = photo_search_core::raw::test_tiff_data_offset(4);
    let entries = [
        (0x0112, 3, 1, u32::from(orientation)),
        (0x0201, 4, 1, data),
        (0x0202, 4, 1, jpeg.len() as u32),
        (0xC612, 1, 4, u32::from_le_bytes([1, 4, 0, 0])),
    ];
    photo_search_core::raw::test_tiff(&entries, &jpeg)
}

#[test]
fn a_dng_is_indexed_from_its_preview_turned_as_the_raw_says() {
    let t = TestDir::new();
    let photos = t.path("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(photos.join("turned.dng"), tiny_dng(6)).unwrap();
    std::fs::write(photos.join("upright.dng"), tiny_dng(1)).unwrap();
    let out = t.ok(&["index", photos.to_str().unwrap()]);
    assert!(out.contains("indexed 2,"), "{out}");
    let catalog = rusqlite::Connection::open(t.library().join("catalog.sqlite")).unwrap();
    let size = |name: &str| -> (String, u32, u32) {
        catalog
            .query_row("SELECT format, width, height FROM photos WHERE path LIKE ?1", [format!("%{name}")], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap()
    };
    assert_eq!(size("turned.dng"), ("dng".to_string(), 300, 400), "orientation 6 turns the preview");
    assert_eq!(size("upright.dng"), ("dng".to_string(), 400, 300));
    let names = util::hit_names(&t.json(&["search", "red", "--json"]));
    assert_eq!(names.len(), 2);
}

/// A minimal CR3 (`raw::test_cr3`: a Canon EOS R, taken in 2021 in Madrid) turned by
/// `orientation`; the preview is a 400x300 red image.
fn tiny_cr3(orientation: u16) -> Vec<u8> {
    photo_search_core::raw::test_cr3(orientation, &red_jpeg(160, 120), &red_jpeg(400, 300))
}

/// A red JPEG, for the previews of generated RAW files.
fn red_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::from_pixel(width, height, image::Rgb([210, 35, 30]))
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg)
        .unwrap();
    out
}

#[test]
fn a_cr3_is_indexed_from_its_preview_with_its_orientation_date_and_place() {
    let t = TestDir::new();
    let photos = t.path("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(photos.join("IMG_0001.CR3"), tiny_cr3(6)).unwrap();
    std::fs::write(photos.join("IMG_0002.CR3"), tiny_cr3(1)).unwrap();
    let mut damaged = tiny_cr3(1);
    damaged.truncate(300);
    std::fs::write(photos.join("IMG_0003.CR3"), damaged).unwrap();
    let out = t.ok(&["index", photos.to_str().unwrap()]);
    assert!(out.contains("indexed 2,") && out.contains("failed 1,"), "{out}");

    let catalog = rusqlite::Connection::open(t.library().join("catalog.sqlite")).unwrap();
    let row = |name: &str| -> (String, u32, u32, String, Option<String>) {
        catalog
            .query_row(
                "SELECT format, width, height, camera_model, place_city FROM photos WHERE path LIKE ?1",
                [format!("%{name}")],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap()
    };
    let (format, width, height, model, city) = row("IMG_0001.CR3");
    assert_eq!((format.as_str(), width, height, model.as_str()), ("cr3", 300, 400, "EOS R"), "orientation 6 turns it");
    assert_eq!(city.as_deref(), Some("Madrid"));
    assert_eq!(row("IMG_0002.CR3").1, 400);
    let names = util::hit_names(&t.json(&["search", "red 2021", "--json"]));
    assert_eq!(names.len(), 2, "the date taken came from CMT2: {names:?}");
    let status = t.json(&["status", "--json", "--failed"]);
    let reason = status["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("cr3"), "{reason}");
}
