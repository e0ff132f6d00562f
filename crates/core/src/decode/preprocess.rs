//! The encoder's input: an upright image resized, cropped and normalized as the model's
//! manifest says, into a channels-first tensor.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::models::{ImageSpec, Resize};

/// Why an image could not be turned into the encoder's input.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("cannot resize {width}x{height} image")]
    Resize {
        width: u32,
        height: u32,
        #[source]
        source: fast_image_resize::ResizeError,
    },
    #[error("image buffer does not match its size")]
    Buffer(#[from] fast_image_resize::ImageBufferError),
}

/// Output side lengths past which the resized image would be absurdly long: beyond it only the
/// part that survives the center crop is resized.
pub(crate) const MAX_RESIZED_SIDE: u32 = 4096;

/// The model's input as its manifest describes it (as transformers' image processors do):
/// resized (bicubic) either shortest side to `spec.size`, the longer side truncated, then
/// center-cropped (CLIP), or squashed to `size` x `size` (SigLIP); scaled to [0, 1],
/// normalized, written as planar CHW into `out` (length `3 * size * size`).
pub fn model_tensor(rgb: &RgbImage, spec: &ImageSpec, out: &mut [f32]) -> Result<(), PreprocessError> {
    let size = spec.size;
    let (w, h) = rgb.dimensions();
    let src = ImageRef::new(w, h, rgb.as_raw(), PixelType::U8x3)?;
    let resize_err = |source| PreprocessError::Resize { width: w, height: h, source };
    let mut resizer = Resizer::new();
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    if spec.resize == Resize::Squash {
        let mut dst = Image::new(size, size, PixelType::U8x3);
        resizer.resize(&src, &mut dst, &options).map_err(resize_err)?;
        normalize_into(&dst, 0, 0, spec, out);
        return Ok(());
    }
    let (short, long) = (w.min(h), w.max(h));
    let resized_long = ((f64::from(size) * f64::from(long) / f64::from(short)) as u32).max(size);
    let (rw, rh) = if w <= h { (size, resized_long) } else { (resized_long, size) };
    let (resized, left, top) = if resized_long > MAX_RESIZED_SIDE {
        // Resize just the centre band that the crop keeps (a few pixels' margin for the filter).
        let keep = f64::from(size + 8) / f64::from(resized_long);
        let options = if w > h {
            let band = f64::from(w) * keep;
            options.crop((f64::from(w) - band) / 2.0, 0.0, band, f64::from(h))
        } else {
            let band = f64::from(h) * keep;
            options.crop(0.0, (f64::from(h) - band) / 2.0, f64::from(w), band)
        };
        let mut dst = if w > h {
            Image::new(size + 8, size, PixelType::U8x3)
        } else {
            Image::new(size, size + 8, PixelType::U8x3)
        };
        resizer.resize(&src, &mut dst, &options).map_err(resize_err)?;
        let (l, t) = if w > h { (4, 0) } else { (0, 4) };
        (dst, l, t)
    } else {
        let mut dst = Image::new(rw, rh, PixelType::U8x3);
        resizer.resize(&src, &mut dst, &options).map_err(resize_err)?;
        (dst, (rw - size) / 2, (rh - size) / 2)
    };

    normalize_into(&resized, left, top, spec, out);
    Ok(())
}

/// The `size` x `size` square of `resized` at (`left`, `top`), scaled and normalized into `out`.
pub(crate) fn normalize_into(resized: &Image<'_>, left: u32, top: u32, spec: &ImageSpec, out: &mut [f32]) {
    let size = spec.size;
    let stride = resized.width() as usize * 3;
    let plane = (size * size) as usize;
    let pixels = resized.buffer();
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * spec.std[c]));
    let shift: [f32; 3] = std::array::from_fn(|c| spec.mean[c] / spec.std[c]);
    for y in 0..size as usize {
        let row = &pixels[(top as usize + y) * stride + left as usize * 3..];
        for x in 0..size as usize {
            for c in 0..3 {
                out[c * plane + y * size as usize + x] = f32::from(row[x * 3 + c]) * scale[c] - shift[c];
            }
        }
    }
}
