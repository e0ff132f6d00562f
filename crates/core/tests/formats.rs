//! Every sample format in `../shared/photos/formats` decodes to the size the manifest records,
//! HEIC/HEIF and AVIF included (through libheif: a build with the `heif` feature must have found
//! it, and the test command installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use photo_search_core::decode::{self, DecodeError, DecodeLimits, HEIF_SUPPORTED};

struct Expected {
    file: String,
    width: u32,
    height: u32,
    /// EXIF orientation 5-8 turn the stored pixels a quarter: the upright picture swaps sides.
    quarter_turn: bool,
    make_model: String,
}

fn manifest() -> Vec<Expected> {
    let bytes = std::fs::read(util::shared().join("photos/manifest.tsv")).unwrap();
    String::from_utf8_lossy(&bytes)
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Some(Expected {
                file: cols.first()?.to_string(),
                width: cols.get(2)?.parse().ok()?,
                height: cols.get(3)?.parse().ok()?,
                quarter_turn: matches!(cols.get(5)?.parse::<u8>(), Ok(5..=8)),
                make_model: cols.get(6)?.to_string(),
            })
        })
        .collect()
}

fn check_folder(folder: &str) -> usize {
    let mut checked = 0;
    for expected in manifest().into_iter().filter(|e| e.file.starts_with(folder)) {
        let path = util::shared().join("photos").join(&expected.file);
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let decoded =
            decode::decode(&bytes, DecodeLimits::default()).unwrap_or_else(|err| panic!("{}: {err}", expected.file));
        let upright =
            if expected.quarter_turn { (expected.height, expected.width) } else { (expected.width, expected.height) };
        assert_eq!(decoded.rgb.dimensions(), upright, "{}", expected.file);
        if let Some(model) = &decoded.exif.camera_model {
            assert!(expected.make_model.contains(model.as_str()), "{}: camera {model}", expected.file);
        }
        checked += 1;
    }
    checked
}

#[test]
#[cfg(feature = "heif")]
#[allow(clippy::assertions_on_constants)] // The constant is what this build found.
fn heic_and_avif_photos_decode_at_their_full_size_with_exif() {
    assert!(HEIF_SUPPORTED, "built with the heif feature but libheif was not found: install libheif-dev");
    assert!(check_folder("formats/heic/") >= 3);
    assert!(check_folder("formats/avif/") >= 2);
}

#[test]
fn png_webp_tiff_and_gif_samples_decode() {
    for folder in ["formats/png/", "formats/webp/", "formats/tiff/", "formats/gif/"] {
        assert!(check_folder(folder) >= 1, "{folder}");
    }
}

#[test]
#[allow(clippy::assertions_on_constants)] // The constant is what this build found.
fn malformed_heif_files_fail_with_a_reason() {
    let dir = util::shared().join("bad-inputs/heif_malformed");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let err = decode::decode(&std::fs::read(&path).unwrap(), DecodeLimits::default()).unwrap_err();
        // libheif's own reason, or (a build without it) that HEIF is not supported: never a
        // panic, never another decoder's guess.
        match err {
            DecodeError::Native { format, ref message } => {
                assert!(
                    HEIF_SUPPORTED && matches!(format, "heic" | "avif") && !message.trim().is_empty(),
                    "{}: {err}",
                    path.display()
                );
            }
            DecodeError::Unsupported(_) => assert!(!HEIF_SUPPORTED, "{}: {err}", path.display()),
            other => panic!("{}: not libheif's reason: {other}", path.display()),
        }
    }
}

/// The container's rotation (`irot`) is applied by libheif: a portrait iPhone HEIC (3024x4032,
/// `irot` 0, EXIF orientation 1) with its `irot` turned a quarter decodes as 4032x3024. No sample
/// in ../shared has a rotation of its own, so the test makes one.
#[test]
#[cfg(feature = "heif")]
fn heif_container_rotation_is_applied() {
    let mut bytes = std::fs::read(util::shared().join("photos/formats/heic/IMG_2927.HEIC")).unwrap();
    let upright = decode::decode(&bytes, DecodeLimits::default()).unwrap();
    assert_eq!(upright.rgb.dimensions(), (3024, 4032));
    let at = bytes.windows(4).position(|w| w == b"irot").expect("the sample has an irot box");
    assert_eq!(bytes[at + 4], 0, "the sample is not rotated");
    bytes[at + 4] = 1; // a quarter turn, anticlockwise
    let turned = decode::decode(&bytes, DecodeLimits::default()).unwrap();
    assert_eq!(turned.rgb.dimensions(), (4032, 3024));
}
