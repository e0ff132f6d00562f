//! HEIC/HEIF and AVIF decoding through the system's libheif (the `heif` cargo feature, built
//! in where `pkg-config` finds libheif >= 1.15). Only the stable C API every libheif since 1.12
//! has is bound here, so Debian 12's 1.15 works as well as newer releases.
//!
//! libheif applies the container's rotation and mirror boxes (`irot`, `imir`) while decoding;
//! the EXIF orientation tag of such files describes the same transform and must not be applied
//! again, so the facts returned here carry no orientation.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

use image::RgbImage;

use crate::decode::{DecodeError, DecodeLimits};
use crate::metadata::{ExifFacts, read_exif};

#[repr(C)]
struct HeifError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

#[repr(C)]
struct HeifContext {
    _private: [u8; 0],
}

#[repr(C)]
struct HeifImageHandle {
    _private: [u8; 0],
}

#[repr(C)]
struct HeifImage {
    _private: [u8; 0],
}

const COLORSPACE_RGB: c_int = 1;
const CHROMA_INTERLEAVED_RGB: c_int = 10;
const CHANNEL_INTERLEAVED: c_int = 10;

// Linked by build.rs from what pkg-config reports for libheif.
unsafe extern "C" {
    fn heif_context_alloc() -> *mut HeifContext;
    fn heif_context_free(ctx: *mut HeifContext);
    fn heif_context_set_maximum_image_size_limit(ctx: *mut HeifContext, maximum_width: c_int);
    fn heif_context_read_from_memory_without_copy(
        ctx: *mut HeifContext,
        mem: *const c_void,
        size: usize,
        options: *const c_void,
    ) -> HeifError;
    fn heif_context_get_primary_image_handle(ctx: *mut HeifContext, handle: *mut *mut HeifImageHandle) -> HeifError;
    fn heif_image_handle_release(handle: *const HeifImageHandle);
    fn heif_image_handle_get_width(handle: *const HeifImageHandle) -> c_int;
    fn heif_image_handle_get_height(handle: *const HeifImageHandle) -> c_int;
    fn heif_image_handle_get_list_of_metadata_block_IDs(
        handle: *const HeifImageHandle,
        type_filter: *const c_char,
        ids: *mut u32,
        count: c_int,
    ) -> c_int;
    fn heif_image_handle_get_metadata_size(handle: *const HeifImageHandle, id: u32) -> usize;
    fn heif_image_handle_get_metadata(handle: *const HeifImageHandle, id: u32, out: *mut c_void) -> HeifError;
    fn heif_decode_image(
        handle: *const HeifImageHandle,
        out: *mut *mut HeifImage,
        colorspace: c_int,
        chroma: c_int,
        options: *const c_void,
    ) -> HeifError;
    fn heif_image_get_width(image: *const HeifImage, channel: c_int) -> c_int;
    fn heif_image_get_height(image: *const HeifImage, channel: c_int) -> c_int;
    fn heif_image_get_plane_readonly(image: *const HeifImage, channel: c_int, stride: *mut c_int) -> *const u8;
    fn heif_image_release(image: *const HeifImage);
}

/// Owns a libheif object and frees it with the matching call, whatever path returns.
struct Owned<T> {
    ptr: *mut T,
    free: unsafe extern "C" fn(*mut T),
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: `ptr` came from libheif's matching allocator and is freed exactly once.
            unsafe { (self.free)(self.ptr) }
        }
    }
}

unsafe extern "C" fn release_handle(handle: *mut HeifImageHandle) {
    // SAFETY: forwarded from `Owned::drop` with a handle libheif gave out.
    unsafe { heif_image_handle_release(handle) }
}

unsafe extern "C" fn release_image(image: *mut HeifImage) {
    // SAFETY: forwarded from `Owned::drop` with an image libheif gave out.
    unsafe { heif_image_release(image) }
}

fn check(err: HeifError, format: &'static str) -> Result<(), DecodeError> {
    if err.code == 0 {
        return Ok(());
    }
    let message = if err.message.is_null() {
        format!("libheif error {}.{}", err.code, err.subcode)
    } else {
        // SAFETY: libheif's messages are static NUL-terminated strings.
        unsafe { CStr::from_ptr(err.message) }.to_string_lossy().into_owned()
    };
    Err(DecodeError::Native { format, message })
}

/// Decodes the primary image of a HEIF-family file (HEIC, AVIF) to upright RGB within `limits`.
pub fn decode(bytes: &[u8], limits: DecodeLimits, format: &'static str) -> Result<(RgbImage, ExifFacts), DecodeError> {
    // SAFETY: every pointer below comes from libheif, is checked for null or error before use,
    // and is freed by an `Owned` guard after its last use; `bytes` outlives the context.
    unsafe {
        let ctx = Owned { ptr: heif_context_alloc(), free: heif_context_free };
        if ctx.ptr.is_null() {
            return Err(DecodeError::Native { format, message: "libheif could not allocate a context".into() });
        }
        let side_limit = (limits.max_pixels as f64).sqrt().min(f64::from(c_int::MAX)) as c_int;
        heif_context_set_maximum_image_size_limit(ctx.ptr, side_limit.max(1));
        check(
            heif_context_read_from_memory_without_copy(ctx.ptr, bytes.as_ptr().cast(), bytes.len(), ptr::null()),
            format,
        )?;
        let mut handle_ptr = ptr::null_mut();
        check(heif_context_get_primary_image_handle(ctx.ptr, &mut handle_ptr), format)?;
        let handle = Owned { ptr: handle_ptr, free: release_handle };
        let (width, height) = (heif_image_handle_get_width(handle.ptr), heif_image_handle_get_height(handle.ptr));
        let (width, height) = (u32::try_from(width).unwrap_or(0), u32::try_from(height).unwrap_or(0));
        if width == 0 || height == 0 {
            return Err(DecodeError::NoPixels);
        }
        if u64::from(width) * u64::from(height) > limits.max_pixels {
            return Err(DecodeError::TooLarge { width, height, limit: limits.max_pixels });
        }
        let mut exif = exif_facts(handle.ptr);
        exif.orientation = None;
        let mut image_ptr = ptr::null_mut();
        check(
            heif_decode_image(handle.ptr, &mut image_ptr, COLORSPACE_RGB, CHROMA_INTERLEAVED_RGB, ptr::null()),
            format,
        )?;
        let image = Owned { ptr: image_ptr, free: release_image };
        let w = heif_image_get_width(image.ptr, CHANNEL_INTERLEAVED);
        let h = heif_image_get_height(image.ptr, CHANNEL_INTERLEAVED);
        let mut stride: c_int = 0;
        let plane = heif_image_get_plane_readonly(image.ptr, CHANNEL_INTERLEAVED, &mut stride);
        let (Ok(w), Ok(h), Ok(stride)) = (usize::try_from(w), usize::try_from(h), usize::try_from(stride)) else {
            return Err(DecodeError::NoPixels);
        };
        if plane.is_null() || w == 0 || h == 0 || stride < w * 3 {
            return Err(DecodeError::NoPixels);
        }
        let mut pixels = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            pixels.extend_from_slice(std::slice::from_raw_parts(plane.add(row * stride), w * 3));
        }
        let rgb = RgbImage::from_raw(w as u32, h as u32, pixels).ok_or(DecodeError::NoPixels)?;
        Ok((rgb, exif))
    }
}

/// The first EXIF block's facts. HEIF stores it behind a 4-byte offset to the TIFF header.
///
/// # Safety
/// `handle` must be a live image handle.
unsafe fn exif_facts(handle: *const HeifImageHandle) -> ExifFacts {
    let mut id = 0u32;
    // SAFETY: the caller guarantees `handle`; `id` has room for the one ID asked for, and the
    // buffer is sized by libheif's own report before it is filled.
    unsafe {
        if heif_image_handle_get_list_of_metadata_block_IDs(handle, c"Exif".as_ptr(), &mut id, 1) < 1 {
            return ExifFacts::default();
        }
        let size = heif_image_handle_get_metadata_size(handle, id);
        if !(8..=(16 << 20)).contains(&size) {
            return ExifFacts::default();
        }
        let mut raw = vec![0u8; size];
        if heif_image_handle_get_metadata(handle, id, raw.as_mut_ptr().cast()).code != 0 {
            return ExifFacts::default();
        }
        let offset = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
        match raw.get(4 + offset..) {
            Some(tiff) if tiff.len() >= 8 => read_exif(tiff.to_vec()),
            _ => ExifFacts::default(),
        }
    }
}
