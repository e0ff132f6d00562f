//! Our preprocessing against tensors made by transformers' CLIPImageProcessor and
//! SiglipImageProcessor (tests/reference/make_preprocess_reference.py), on real photos including
//! EXIF-rotated ones; SigLIP's spec is read from its manifest, as the app reads it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use photo_search_core::decode::{DecodeLimits, decode, model_tensor};
use photo_search_core::models::{ImageSpec, Manifest};
use photo_search_core::prepare::prepare;

/// Pixel values differ slightly between JPEG decoders (IDCT rounding, chroma upsampling) and
/// resize implementations. In normalized units one 8-bit level is about 0.015: we allow a mean
/// difference under half a level, 99% of values within two levels, and no value off by more
/// than about thirteen levels (a few edge pixels of the upsampled PNG and rotated JPEGs).
const MAX_MEAN_ABS: f32 = 0.0075;
const MAX_P99_ABS: f32 = 0.031;
const MAX_ABS: f32 = 0.2;

struct Diff {
    mean: f32,
    p99: f32,
    max: f32,
}

fn reference_tensor(dir: &str, name: &str) -> Vec<f32> {
    std::fs::read(util::repo().join("tests/reference").join(dir).join(name))
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn diff(ours: &[f32], expected: &[f32]) -> Diff {
    assert_eq!(ours.len(), expected.len());
    let mut diffs: Vec<f32> = ours.iter().zip(expected).map(|(a, b)| (a - b).abs()).collect();
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    diffs.sort_by(f32::total_cmp);
    Diff { mean, p99: diffs[diffs.len() * 99 / 100], max: diffs[diffs.len() - 1] }
}

/// Runs `tensor_of` on every reference photo of `dir` and checks it against the reference tensor.
fn check_all(dir: &str, label: &str, tensor_of: impl Fn(&std::path::Path) -> Vec<f32>, limits: (f32, f32, f32)) {
    let manifest =
        std::fs::read_to_string(util::repo().join("tests/reference").join(dir).join("manifest.tsv")).unwrap();
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let (photo, tensor) = line.split_once('\t').unwrap();
        let ours = tensor_of(&util::shared().join("photos").join(photo));
        let d = diff(&ours, &reference_tensor(dir, tensor));
        println!("{label} {photo}: mean {:.4} p99 {:.4} max {:.4}", d.mean, d.p99, d.max);
        assert!(
            d.mean < limits.0 && d.p99 < limits.1 && d.max < limits.2,
            "{label} {photo}: {:?}",
            (d.mean, d.p99, d.max)
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} reference photos");
}

/// The model input of a photo decoded at full size (no DCT scaling).
fn full_decode_tensor(path: &std::path::Path, spec: &ImageSpec) -> Vec<f32> {
    let decoded = decode(&std::fs::read(path).unwrap(), DecodeLimits::default()).unwrap();
    let mut ours = vec![0.0f32; 3 * 224 * 224];
    model_tensor(&decoded.rgb, spec, &mut ours).unwrap();
    ours
}

#[test]
fn full_decode_preprocessing_matches_clip_image_processor() {
    check_all(
        "preprocess",
        "full",
        |path| full_decode_tensor(path, &ImageSpec::clip(224)),
        (MAX_MEAN_ABS, MAX_P99_ABS, MAX_ABS),
    );
}

/// The indexer decodes JPEGs at a reduced DCT scale (1/8 for most camera photos), which blurs
/// slightly differently from a full decode followed by bicubic downscaling. Measured on these
/// photos: mean 0.005-0.036 (under 2.5 levels), p99 at most 0.135 (9 levels), max 0.50.
const FAST_MEAN_ABS: f32 = 0.045;
const FAST_P99_ABS: f32 = 0.2;
const FAST_MAX_ABS: f32 = 0.75;

#[test]
fn indexing_preprocessing_stays_close_to_clip_image_processor() {
    check_all(
        "preprocess",
        "fast",
        |path| prepare(path, &ImageSpec::clip(224), DecodeLimits::default(), None).unwrap().pixels,
        (FAST_MEAN_ABS, FAST_P99_ABS, FAST_MAX_ABS),
    );
}

#[test]
fn a_rotated_photo_does_not_match_its_reference_unrotated() {
    // Guards the test above: orientation must matter at this tolerance.
    let photo = "camera/Apple_iPhone_4S.jpg";
    let bytes = std::fs::read(util::shared().join("photos").join(photo)).unwrap();
    let mut decoded = decode(&bytes, DecodeLimits::default()).unwrap();
    decoded.rgb = image::imageops::rotate90(&decoded.rgb);
    let mut ours = vec![0.0f32; 3 * 224 * 224];
    model_tensor(&decoded.rgb, &ImageSpec::clip(224), &mut ours).unwrap();
    let expected: Vec<f32> = std::fs::read(util::repo().join("tests/reference/preprocess/Apple_iPhone_4S.f32"))
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mean = ours.iter().zip(&expected).map(|(a, b)| (a - b).abs()).sum::<f32>() / ours.len() as f32;
    assert!(mean > MAX_MEAN_ABS * 5.0, "mean {mean}");
}

fn siglip() -> ImageSpec {
    Manifest::builtin("siglip-base-patch16-224").unwrap().image
}

#[test]
fn squashed_preprocessing_matches_siglip_image_processor() {
    check_all(
        "preprocess-squash",
        "full squash",
        |path| full_decode_tensor(path, &siglip()),
        (MAX_MEAN_ABS, MAX_P99_ABS, MAX_ABS),
    );
    check_all(
        "preprocess-squash",
        "fast squash",
        |path| prepare(path, &siglip(), DecodeLimits::default(), None).unwrap().pixels,
        (FAST_MEAN_ABS, FAST_P99_ABS, FAST_MAX_ABS),
    );
}

#[test]
fn a_cropped_input_does_not_pass_for_a_squashed_one() {
    // Guards the test above: the resize kind must matter at this tolerance.
    let photo = util::shared().join("photos/camera/Nikon_D90.jpg");
    let decoded = decode(&std::fs::read(photo).unwrap(), DecodeLimits::default()).unwrap();
    let mut cropped = vec![0.0f32; 3 * 224 * 224];
    let spec = ImageSpec {
        resize: photo_search_core::models::Resize::ShortestEdge,
        crop: photo_search_core::models::Crop::Center,
        ..siglip()
    };
    model_tensor(&decoded.rgb, &spec, &mut cropped).unwrap();
    let d = diff(&cropped, &reference_tensor("preprocess-squash", "Nikon_D90.f32"));
    assert!(d.mean > MAX_MEAN_ABS * 5.0, "mean {}", d.mean);
}
