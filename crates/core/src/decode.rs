//! Decoding photo files into upright RGB pixels, with limits against decompression bombs; the
//! thumbnail (`thumbnail`) and the encoder's input tensor (`preprocess`) are made from them.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use turbojpeg::{Decompressor, ScalingFactor};

use crate::metadata::{ExifFacts, read_exif, read_exif_from_file};

mod preprocess;
mod thumbnail;

pub use preprocess::{PreprocessError, model_tensor};
pub use thumbnail::{ThumbnailError, thumbnail_jpeg};

/// Limits that refuse decompression bombs before their pixels are allocated.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// The most pixels an image may have.
    pub max_pixels: u64,
    /// The most memory a decoder may allocate.
    pub max_alloc_bytes: u64,
    /// Time one file may take to read and decode while indexing before it is given up.
    pub max_time: std::time::Duration,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 120 MP covers every camera and most stitched panoramas; beyond that the memory a
        // decode needs (several bytes per pixel, twice) is not worth risking for a thumbnail.
        // A camera photo takes tens of milliseconds; a minute means a pathological file or a
        // hung network share.
        DecodeLimits { max_pixels: 120_000_000, max_alloc_bytes: 1 << 30, max_time: std::time::Duration::from_secs(60) }
    }
}

/// Why a file could not be decoded to pixels.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("empty file")]
    Empty,
    #[error("not an image (content not recognised)")]
    UnknownFormat,
    #[error(transparent)]
    Raw(#[from] crate::raw::RawError),
    #[error("{0} images are not supported by this build (built without libheif)")]
    Unsupported(&'static str),
    #[error("image too large: {width}x{height} pixels (limit {limit} pixels)")]
    TooLarge { width: u32, height: u32, limit: u64 },
    #[error("image too large to decode within the memory limit")]
    OverMemoryLimit(#[source] image::ImageError),
    #[error("unsupported {format} variant: {source}")]
    UnsupportedFeature {
        format: &'static str,
        #[source]
        source: image::ImageError,
    },
    #[error("corrupt or truncated {format} image: {source}")]
    Corrupt {
        format: &'static str,
        #[source]
        source: image::ImageError,
    },
    #[error("image has no pixels")]
    NoPixels,
    #[error("corrupt or unsupported {format} image: {message}")]
    Native { format: &'static str, message: String },
}

/// A decoded photo: upright RGB pixels plus what the file said about itself.
#[derive(Debug)]
pub struct DecodedImage {
    /// The upright pixels.
    pub rgb: RgbImage,
    /// The lower-case format name the catalog stores and filters use ("jpeg", "heic", ...).
    pub format: &'static str,
    /// What its EXIF says.
    pub exif: ExifFacts,
    /// The image's upright size as stored: `rgb` may be smaller (a JPEG decoded at a reduced
    /// DCT scale, a RAW's preview); this is what the catalog records.
    pub size: (u32, u32),
}

/// `(width, height)` as seen after applying an EXIF orientation (5-8 swap the sides).
fn upright(size: (u32, u32), orientation: Option<u16>) -> (u32, u32) {
    if orientation.is_some_and(|o| (5..=8).contains(&o)) { (size.1, size.0) } else { size }
}

/// Sniffs the format from the content (never the extension) and decodes within `limits`,
/// applying the EXIF orientation.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<DecodedImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let format = match sniff(bytes)? {
        Sniffed::Image(format) => format,
        Sniffed::Heif(name) => return decode_heif(bytes, limits, name),
    };
    let name = format_name(format);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(image_limits);
    let mut decoder = reader.into_decoder().map_err(|e| classify(e, name))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(DecodeError::NoPixels);
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(DecodeError::TooLarge { width, height, limit: limits.max_pixels });
    }
    let exif = match decoder.exif_metadata() {
        Ok(Some(raw)) => read_exif(raw),
        Ok(None) => ExifFacts::default(),
        Err(err) => {
            tracing::debug!("EXIF block unreadable: {err}");
            ExifFacts::default()
        }
    };
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| classify(e, name))?;
    if let Some(orientation) = exif.orientation.and_then(|o| u8::try_from(o).ok()).and_then(Orientation::from_exif) {
        image.apply_orientation(orientation);
    }
    let rgb = image.into_rgb8();
    let size = rgb.dimensions();
    Ok(DecodedImage { rgb, format: name, exif, size })
}

#[cfg(libheif)]
fn decode_heif(bytes: &[u8], limits: DecodeLimits, name: &'static str) -> Result<DecodedImage, DecodeError> {
    let (rgb, exif) = crate::heif::decode(bytes, limits, name)?;
    let size = rgb.dimensions();
    Ok(DecodedImage { rgb, format: name, exif, size })
}

#[cfg(not(libheif))]
fn decode_heif(_: &[u8], _: DecodeLimits, name: &'static str) -> Result<DecodedImage, DecodeError> {
    Err(DecodeError::Unsupported(name))
}

/// Whether this build decodes HEIC/HEIF and AVIF (through libheif).
pub const HEIF_SUPPORTED: bool = cfg!(libheif);

/// The smallest decoded size still useful: the model input and the thumbnail must be covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeTarget {
    /// A preview whose short side is smaller is not used.
    pub min_short_side: u32,
    /// A preview whose long side is smaller is not used.
    pub min_long_side: u32,
}

/// JPEG scaling factors decoded in the DCT domain (libjpeg-turbo), smallest first.
const DCT_SCALES: [ScalingFactor; 3] = [ScalingFactor::ONE_EIGHTH, ScalingFactor::ONE_QUARTER, ScalingFactor::ONE_HALF];

/// Decodes like [`decode`], but a JPEG is decoded directly at the smallest DCT scale (1/8,
/// 1/4, 1/2) that still covers `target`: Huffman decoding is then nearly all the work left.
/// JPEGs libjpeg-turbo cannot handle (CMYK, damaged) take the full decoder.
pub fn decode_scaled(bytes: &[u8], limits: DecodeLimits, target: DecodeTarget) -> Result<DecodedImage, DecodeError> {
    if let Some(kind) = crate::raw::kind_of(bytes) {
        match decode_raw(bytes, limits, target) {
            Ok(decoded) => return Ok(decoded),
            // A TIFF from a camera maker's scanner, say: not a RAW after all.
            Err(DecodeError::Raw(_)) if !matches!(kind, "dng" | "raf" | "orf" | "rw2" | "cr2" | "cr3") => {}
            Err(err) => return Err(err),
        }
    }
    if bytes.len() > 3 && bytes[..3] == [0xFF, 0xD8, 0xFF] {
        match decode_jpeg_scaled(bytes, limits, target) {
            Ok(decoded) => return Ok(decoded),
            Err(JpegPath::Refused(err)) => return Err(err),
            Err(JpegPath::Fallback(err)) => tracing::debug!("libjpeg-turbo: {err}; using the full decoder"),
        }
    }
    decode(bytes, limits)
}

/// A RAW file through its largest embedded JPEG preview, turned as the RAW says (unless the
/// preview carries its own orientation), with the RAW's own EXIF facts (date, camera, GPS).
fn decode_raw(bytes: &[u8], limits: DecodeLimits, target: DecodeTarget) -> Result<DecodedImage, DecodeError> {
    let preview = crate::raw::embedded_preview(bytes, |jpeg| {
        let header = Decompressor::new().ok()?.read_header(jpeg).ok()?;
        Some((u32::try_from(header.width).ok()?, u32::try_from(header.height).ok()?))
    })?;
    let decoded = decode_scaled(preview.jpeg, limits, target)?;
    let (mut rgb, mut size) = (decoded.rgb, decoded.size);
    let raw_exif = crate::raw::metadata(bytes);
    let orientation = decoded.exif.orientation.or(raw_exif.orientation).or(preview.orientation);
    if decoded.exif.orientation.is_none()
        && let Some(turn) = orientation.and_then(|o| u8::try_from(o).ok()).and_then(Orientation::from_exif)
    {
        let mut image = DynamicImage::ImageRgb8(rgb);
        image.apply_orientation(turn);
        rgb = image.into_rgb8();
        size = upright(size, orientation);
    }
    let exif = ExifFacts {
        taken_at: raw_exif.taken_at.or(decoded.exif.taken_at),
        camera_make: raw_exif.camera_make.or(decoded.exif.camera_make),
        camera_model: raw_exif.camera_model.or(decoded.exif.camera_model),
        gps: raw_exif.gps.or(decoded.exif.gps),
        orientation,
    };
    Ok(DecodedImage { rgb, format: preview.kind, exif, size })
}

enum JpegPath {
    Refused(DecodeError),
    Fallback(turbojpeg::Error),
}

fn decode_jpeg_scaled(bytes: &[u8], limits: DecodeLimits, target: DecodeTarget) -> Result<DecodedImage, JpegPath> {
    let mut decompressor = Decompressor::new().map_err(JpegPath::Fallback)?;
    let header = decompressor.read_header(bytes).map_err(JpegPath::Fallback)?;
    let (width, height) = (header.width as u64, header.height as u64);
    if width == 0 || height == 0 {
        return Err(JpegPath::Refused(DecodeError::NoPixels));
    }
    if width * height > limits.max_pixels {
        return Err(JpegPath::Refused(DecodeError::TooLarge {
            width: header.width as u32,
            height: header.height as u32,
            limit: limits.max_pixels,
        }));
    }
    let covers = |f: &ScalingFactor| {
        let scaled = header.scaled(*f);
        let (short, long) = (scaled.width.min(scaled.height), scaled.width.max(scaled.height));
        short >= target.min_short_side as usize && long >= target.min_long_side as usize
    };
    let factor = DCT_SCALES.into_iter().find(covers).unwrap_or(ScalingFactor::ONE);
    decompressor.set_scaling_factor(factor).map_err(JpegPath::Fallback)?;
    let scaled = header.scaled(factor);
    let mut pixels = vec![0u8; scaled.width * scaled.height * 3];
    let output = turbojpeg::Image {
        pixels: pixels.as_mut_slice(),
        width: scaled.width,
        pitch: scaled.width * 3,
        height: scaled.height,
        format: turbojpeg::PixelFormat::RGB,
    };
    decompressor.decompress(bytes, output).map_err(JpegPath::Fallback)?;
    let rgb = RgbImage::from_raw(scaled.width as u32, scaled.height as u32, pixels)
        .ok_or(JpegPath::Refused(DecodeError::NoPixels))?;
    let exif = read_exif_from_file(bytes);
    let size = upright((header.width as u32, header.height as u32), exif.orientation);
    Ok(DecodedImage { rgb: oriented(rgb, exif.orientation), format: "jpeg", exif, size })
}

fn oriented(rgb: RgbImage, orientation: Option<u16>) -> RgbImage {
    match orientation.and_then(|o| u8::try_from(o).ok()).and_then(Orientation::from_exif) {
        Some(Orientation::NoTransforms) | None => rgb,
        Some(o) => {
            let mut image = DynamicImage::ImageRgb8(rgb);
            image.apply_orientation(o);
            image.into_rgb8()
        }
    }
}

enum Sniffed {
    Image(ImageFormat),
    /// A HEIF-family container (ISO-BMFF `ftyp` box), decoded by libheif: "heic" or "avif".
    Heif(&'static str),
}

fn sniff(bytes: &[u8]) -> Result<Sniffed, DecodeError> {
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return match &bytes[8..12] {
            b"avif" | b"avis" => Ok(Sniffed::Heif("avif")),
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => Ok(Sniffed::Heif("heic")),
            _ => Err(DecodeError::UnknownFormat),
        };
    }
    match image::guess_format(bytes) {
        Ok(ImageFormat::Avif) => Ok(Sniffed::Heif("avif")),
        Ok(
            format @ (ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::Gif
            | ImageFormat::WebP
            | ImageFormat::Tiff
            | ImageFormat::Bmp),
        ) => Ok(Sniffed::Image(format)),
        Ok(_) | Err(_) => Err(DecodeError::UnknownFormat),
    }
}

fn classify(err: image::ImageError, format: &'static str) -> DecodeError {
    match err {
        image::ImageError::Limits(_) => DecodeError::OverMemoryLimit(err),
        source @ image::ImageError::Unsupported(_) => DecodeError::UnsupportedFeature { format, source },
        source => DecodeError::Corrupt { format, source },
    }
}

/// The lower-case name the catalog stores and filters use.
pub fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::Gif => "gif",
        ImageFormat::WebP => "webp",
        ImageFormat::Tiff => "tiff",
        ImageFormat::Bmp => "bmp",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ImageSpec;

    #[test]
    fn empty_file_is_refused() {
        assert!(matches!(decode(&[], DecodeLimits::default()), Err(DecodeError::Empty)));
    }

    #[test]
    fn text_is_not_an_image() {
        assert!(matches!(decode(b"hello, world", DecodeLimits::default()), Err(DecodeError::UnknownFormat)));
    }

    #[test]
    fn header_declaring_huge_image_is_refused_before_decoding() {
        let mut png = Vec::new();
        RgbImage::new(4, 4).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        let limits = DecodeLimits { max_pixels: 10, ..Default::default() };
        assert!(matches!(decode(&png, limits), Err(DecodeError::TooLarge { width: 4, height: 4, .. })));
    }

    #[test]
    fn uniform_image_normalizes_to_the_expected_constant() {
        let spec = ImageSpec::clip(224);
        let img = RgbImage::from_pixel(300, 500, image::Rgb([255, 0, 128]));
        let mut out = vec![0.0; 3 * 224 * 224];
        model_tensor(&img, &spec, &mut out).unwrap();
        let plane = 224 * 224;
        for (c, value) in [255.0f32, 0.0, 128.0].into_iter().enumerate() {
            let expected = (value / 255.0 - spec.mean[c]) / spec.std[c];
            assert!((out[c * plane + 1234] - expected).abs() < 1e-4);
        }
    }

    #[test]
    fn extreme_panorama_is_cropped_not_blown_up() {
        let spec = ImageSpec::clip(224);
        let img = RgbImage::from_pixel(20_000, 3, image::Rgb([10, 200, 30]));
        let mut out = vec![0.0; 3 * 224 * 224];
        model_tensor(&img, &spec, &mut out).unwrap();
        let expected = (200.0 / 255.0 - spec.mean[1]) / spec.std[1];
        assert!((out[224 * 224 + 5000] - expected).abs() < 1e-3);
    }
}
