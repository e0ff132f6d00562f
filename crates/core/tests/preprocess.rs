//! Our CLIP preprocessing against tensors made by transformers' CLIPImageProcessor
//! (tests/reference/make_preprocess_reference.py), on real photos including EXIF-rotated ones.

mod util;

use photo_search_core::decode::{DecodeLimits, clip_tensor, decode};
use photo_search_core::models::ImageSpec;

/// Pixel values differ slightly between JPEG decoders (IDCT rounding, chroma upsampling) and
/// resize implementations. In normalized units one 8-bit level is about 0.015: we allow a mean
/// difference under half a level, 99% of values within two levels, and no value off by more
/// than about thirteen levels (a few edge pixels of the upsampled PNG and rotated JPEGs).
const MAX_MEAN_ABS: f32 = 0.0075;
const MAX_P99_ABS: f32 = 0.031;
const MAX_ABS: f32 = 0.2;

#[test]
fn preprocessing_matches_clip_image_processor() {
    let reference = util::repo().join("tests/reference/preprocess");
    let manifest = std::fs::read_to_string(reference.join("manifest.tsv")).unwrap();
    let spec = ImageSpec::clip(224);
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let (photo, tensor) = line.split_once('\t').unwrap();
        let bytes = std::fs::read(util::shared().join("photos").join(photo)).unwrap();
        let decoded = decode(&bytes, DecodeLimits::default()).unwrap();
        let mut ours = vec![0.0f32; 3 * 224 * 224];
        clip_tensor(&decoded.rgb, &spec, &mut ours).unwrap();
        let expected: Vec<f32> = std::fs::read(reference.join(tensor))
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(expected.len(), ours.len());
        let mut diffs: Vec<f32> = ours.iter().zip(&expected).map(|(a, b)| (a - b).abs()).collect();
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        diffs.sort_by(f32::total_cmp);
        let p99 = diffs[diffs.len() * 99 / 100];
        let max = diffs[diffs.len() - 1];
        println!("{photo}: mean {mean:.4} p99 {p99:.4} max {max:.4}");
        assert!(mean < MAX_MEAN_ABS && p99 < MAX_P99_ABS && max < MAX_ABS, "{photo}: mean {mean} p99 {p99} max {max}");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} reference photos");
}

#[test]
fn a_rotated_photo_does_not_match_its_reference_unrotated() {
    // Guards the test above: orientation must matter at this tolerance.
    let photo = "camera/Apple_iPhone_4S.jpg";
    let bytes = std::fs::read(util::shared().join("photos").join(photo)).unwrap();
    let mut decoded = decode(&bytes, DecodeLimits::default()).unwrap();
    decoded.rgb = image::imageops::rotate90(&decoded.rgb);
    let mut ours = vec![0.0f32; 3 * 224 * 224];
    clip_tensor(&decoded.rgb, &ImageSpec::clip(224), &mut ours).unwrap();
    let expected: Vec<f32> = std::fs::read(util::repo().join("tests/reference/preprocess/Apple_iPhone_4S.f32"))
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mean = ours.iter().zip(&expected).map(|(a, b)| (a - b).abs()).sum::<f32>() / ours.len() as f32;
    assert!(mean > MAX_MEAN_ABS * 5.0, "mean {mean}");
}
