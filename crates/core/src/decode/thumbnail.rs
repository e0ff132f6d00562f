//! Thumbnails: an upright image scaled to its long side and encoded as JPEG.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

/// Why a thumbnail could not be made.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("cannot resize for the thumbnail")]
    Resize(#[from] fast_image_resize::ResizeError),
    #[error("thumbnail buffer does not match its size")]
    Buffer(#[from] fast_image_resize::ImageBufferError),
    #[error("cannot encode the thumbnail")]
    Encode(#[from] turbojpeg::Error),
}

/// A JPEG thumbnail at most `long_side` pixels on its longer side.
pub fn thumbnail_jpeg(rgb: &RgbImage, long_side: u32) -> Result<Vec<u8>, ThumbnailError> {
    let (w, h) = rgb.dimensions();
    let scale = (f64::from(long_side) / f64::from(w.max(h))).min(1.0);
    let (tw, th) = (((f64::from(w) * scale).round() as u32).max(1), ((f64::from(h) * scale).round() as u32).max(1));
    let resized;
    let (pixels, width, height) = if (tw, th) == (w, h) {
        (rgb.as_raw().as_slice(), w, h)
    } else {
        let src = ImageRef::new(w, h, rgb.as_raw(), PixelType::U8x3)?;
        let mut dst = Image::new(tw, th, PixelType::U8x3);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
        Resizer::new().resize(&src, &mut dst, &options)?;
        resized = dst.into_vec();
        (resized.as_slice(), tw, th)
    };
    let mut compressor = turbojpeg::Compressor::new()?;
    compressor.set_quality(82)?;
    compressor.set_subsamp(turbojpeg::Subsamp::Sub2x2)?;
    let image = turbojpeg::Image {
        pixels,
        width: width as usize,
        pitch: width as usize * 3,
        height: height as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    Ok(compressor.compress_to_vec(image)?)
}
