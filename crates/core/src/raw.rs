//! RAW files through their embedded JPEG previews: the largest preview a camera stored (NEF,
//! CR2, ARW, DNG, PEF, ORF and RW2 are TIFF structures; RAF has a header pointing at its JPEG;
//! CR3 is an ISO-BMFF container, read in [`cr3`]) whose short side is at least 256 px, with the
//! RAW's own orientation. The raw sensor data is never decoded. The parser reads only within the
//! file's bytes with checked arithmetic and bounded walks, so a malformed file fails alone with a
//! reason; it also runs under the decoders' panic guard and time limit like every other format.

mod cr3;

#[doc(hidden)]
pub use cr3::test_cr3;

use crate::metadata::ExifFacts;

/// Extensions of RAW files the scanner offers for decoding.
pub const RAW_EXTENSIONS: &[&str] =
    &["dng", "cr2", "cr3", "nef", "nrw", "arw", "srf", "sr2", "pef", "orf", "rw2", "raf"];

/// The format names RAW files are recorded under (what [`kind_of`] answers).
pub const RAW_KINDS: &[&str] = &["dng", "cr2", "cr3", "nef", "arw", "pef", "orf", "rw2", "raf"];

/// A preview smaller than this on its short side is not worth indexing (a thumbnail).
pub const MIN_PREVIEW_SHORT_SIDE: u32 = 256;

/// Why a RAW file gives no preview.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawError {
    #[error("malformed {kind} file: {problem}")]
    Malformed { kind: &'static str, problem: &'static str },
    #[error("{kind} file holds no embedded JPEG preview of at least {MIN_PREVIEW_SHORT_SIDE} px")]
    NoPreview { kind: &'static str },
}

/// The embedded preview of a RAW file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview<'a> {
    /// "nef", "cr2", "dng", ...: the format name the catalog stores.
    pub kind: &'static str,
    /// The JPEG's bytes.
    pub jpeg: &'a [u8],
    /// The RAW's EXIF orientation (1-8), to apply when the preview carries none.
    pub orientation: Option<u16>,
}

/// Which RAW format `bytes` hold, if any, by their content.
pub fn kind_of(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"FUJIFILMCCD-RAW") {
        return Some("raf");
    }
    if cr3::is_cr3(bytes) {
        return Some("cr3");
    }
    let magic = bytes.get(..4)?;
    match magic {
        b"IIRO" | b"IIRS" | b"MMOR" => return Some("orf"),
        b"IIU\0" => return Some("rw2"),
        b"II*\0" | b"MM\0*" => {}
        _ => return None,
    }
    if bytes.get(8..10) == Some(b"CR") {
        return Some("cr2");
    }
    let tiff = Tiff::new(bytes, 0)?;
    let ifd0 = tiff.u32_at(4)? as usize;
    let entries = tiff.entries(ifd0)?;
    if entries.iter().any(|e| e.tag == 0xC612) {
        return Some("dng");
    }
    let make = entries.iter().find(|e| e.tag == 0x010F).and_then(|e| tiff.ascii(e))?;
    let make = make.to_ascii_uppercase();
    [("NIKON", "nef"), ("SONY", "arw"), ("PENTAX", "pef"), ("RICOH", "pef"), ("CANON", "cr2"), ("OLYMPUS", "orf")]
        .iter()
        .find(|(maker, _)| make.starts_with(maker))
        .map(|(_, kind)| *kind)
}

/// The largest embedded JPEG preview of a RAW file with a short side of at least
/// [`MIN_PREVIEW_SHORT_SIDE`]; `dimensions` reads a candidate's size (None: not a usable JPEG).
pub fn embedded_preview<'a>(
    bytes: &'a [u8],
    dimensions: impl Fn(&[u8]) -> Option<(u32, u32)>,
) -> Result<Preview<'a>, RawError> {
    let kind = kind_of(bytes).ok_or(RawError::Malformed { kind: "raw", problem: "not a RAW file" })?;
    let malformed = |problem| RawError::Malformed { kind, problem };
    let (candidates, orientation) = if kind == "raf" {
        let read = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let (offset, length) =
            (read(84).ok_or(malformed("truncated header"))?, read(88).ok_or(malformed("truncated header"))?);
        (vec![(offset, length)], None)
    } else if kind == "cr3" {
        let cr3 = cr3::read(bytes)?;
        (cr3.candidates, cr3.facts.orientation)
    } else {
        let tiff = Tiff::new(bytes, 0).ok_or(malformed("truncated TIFF header"))?;
        let first = tiff.u32_at(4).ok_or(malformed("truncated TIFF header"))? as usize;
        tiff.previews(first).ok_or(malformed("unreadable image directories"))?
    };
    candidates
        .into_iter()
        .filter_map(|(offset, length)| bytes.get(offset..offset.checked_add(length)?))
        .filter(|jpeg| jpeg.starts_with(&[0xFF, 0xD8]))
        .filter_map(|jpeg| dimensions(jpeg).map(|(w, h)| (jpeg, w, h)))
        .filter(|(_, w, h)| (*w).min(*h) >= MIN_PREVIEW_SHORT_SIDE)
        .max_by_key(|(_, w, h)| u64::from(*w) * u64::from(*h))
        .map(|(jpeg, _, _)| Preview { kind, jpeg, orientation })
        .ok_or(RawError::NoPreview { kind })
}

/// The date, camera, GPS position and orientation a RAW file records (CR3 keeps them in boxes
/// of its own; the TIFF-based formats in EXIF directories).
pub fn metadata(bytes: &[u8]) -> ExifFacts {
    if cr3::is_cr3(bytes) {
        return cr3::read(bytes).map(|cr3| cr3.facts).unwrap_or_default();
    }
    crate::metadata::read_exif_from_file(bytes)
}

/// Where some bytes are in the file: offset and length.
type Span = (usize, usize);

/// One directory entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    /// Where the value is: inside the entry when it fits in 4 bytes, else at the offset there.
    value_at: usize,
}

/// A TIFF structure inside `bytes` (offsets relative to `base`), read with bounds checks only.
struct Tiff<'a> {
    bytes: &'a [u8],
    base: usize,
    little: bool,
}

/// Directories read at most (IFD chains, SubIFDs): a loop or a bomb ends here.
const MAX_IFDS: usize = 64;
const MAX_ENTRIES: usize = 1000;

impl<'a> Tiff<'a> {
    fn new(bytes: &'a [u8], base: usize) -> Option<Self> {
        let little = match bytes.get(base..base + 2)? {
            b"II" => true,
            b"MM" => false,
            _ => return None,
        };
        Some(Tiff { bytes, base, little })
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b = self.bytes.get(self.base.checked_add(at)?..self.base.checked_add(at)?.checked_add(2)?)?;
        Some(if self.little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let start = self.base.checked_add(at)?;
        let b = self.bytes.get(start..start.checked_add(4)?)?;
        Some(if self.little {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        })
    }

    fn entries(&self, ifd: usize) -> Option<Vec<Entry>> {
        let count = usize::from(self.u16_at(ifd)?);
        if count > MAX_ENTRIES {
            return None;
        }
        (0..count)
            .map(|i| {
                let at = ifd.checked_add(2)?.checked_add(i.checked_mul(12)?)?;
                let (tag, kind, count) = (self.u16_at(at)?, self.u16_at(at + 2)?, self.u32_at(at + 4)?);
                let size = match kind {
                    1 | 2 | 6 | 7 => 1usize,
                    3 | 8 => 2,
                    4 | 9 | 11 | 13 => 4,
                    _ => 8,
                };
                let total = size.checked_mul(count as usize)?;
                let value_at = if total <= 4 { at + 8 } else { self.u32_at(at + 8)? as usize };
                Some(Entry { tag, kind, count, value_at })
            })
            .collect()
    }

    /// The `index`th integer value of an entry (SHORT or LONG).
    fn int(&self, entry: &Entry, index: usize) -> Option<u32> {
        if index >= entry.count as usize {
            return None;
        }
        match entry.kind {
            3 => self.u16_at(entry.value_at.checked_add(index.checked_mul(2)?)?).map(u32::from),
            4 | 13 => self.u32_at(entry.value_at.checked_add(index.checked_mul(4)?)?),
            _ => None,
        }
    }

    /// The `index`th RATIONAL value of an entry.
    fn rational(&self, entry: &Entry, index: usize) -> Option<f64> {
        if entry.kind != 5 || index >= entry.count as usize {
            return None;
        }
        let at = entry.value_at.checked_add(index.checked_mul(8)?)?;
        let (numerator, denominator) = (self.u32_at(at)?, self.u32_at(at.checked_add(4)?)?);
        (denominator != 0).then(|| f64::from(numerator) / f64::from(denominator))
    }

    fn ascii(&self, entry: &Entry) -> Option<String> {
        let start = self.base.checked_add(entry.value_at)?;
        let text = self.bytes.get(start..start.checked_add(entry.count as usize)?)?;
        Some(String::from_utf8_lossy(text).trim_end_matches('\0').trim().to_string())
    }

    /// Every embedded JPEG candidate (absolute offset, length) in the directory chain starting
    /// at `first` and the SubIFDs under it, with IFD0's orientation.
    fn previews(&self, first: usize) -> Option<(Vec<Span>, Option<u16>)> {
        let mut candidates = Vec::new();
        let mut orientation = None;
        let mut pending = vec![first];
        let mut seen = std::collections::HashSet::new();
        while let Some(ifd) = pending.pop() {
            if ifd == 0 || !seen.insert(ifd) {
                continue;
            }
            if seen.len() > MAX_IFDS {
                break;
            }
            let Some(entries) = self.entries(ifd) else { continue };
            let find = |tag: u16| entries.iter().find(|e| e.tag == tag);
            if seen.len() == 1 {
                orientation = find(0x0112)
                    .and_then(|e| self.int(e, 0))
                    .and_then(|o| u16::try_from(o).ok())
                    .filter(|o| (1..=8).contains(o));
            }
            if let (Some(at), Some(len)) =
                (find(0x0201).and_then(|e| self.int(e, 0)), find(0x0202).and_then(|e| self.int(e, 0)))
            {
                candidates.push((self.base + at as usize, len as usize));
            }
            let jpeg_strips = find(0x0103).and_then(|e| self.int(e, 0)).is_some_and(|c| c == 6 || c == 7);
            if jpeg_strips
                && let (Some(at), Some(len)) =
                    (find(0x0111).and_then(|e| self.int(e, 0)), find(0x0117).and_then(|e| self.int(e, 0)))
            {
                candidates.push((self.base + at as usize, len as usize));
            }
            if let Some(sub) = find(0x014A) {
                pending.extend((0..sub.count.min(16) as usize).filter_map(|i| self.int(sub, i)).map(|o| o as usize));
            }
            let next_at = ifd.checked_add(2)?.checked_add(entries.len() * 12)?;
            if let Some(next) = self.u32_at(next_at) {
                pending.push(next as usize);
            }
        }
        Some((candidates, orientation))
    }
}

/// A little-endian TIFF with one directory of `entries` (tag, type, count, value) followed by
/// `data`, which starts at [`test_tiff_data_offset`]: for tests that generate RAW files.
#[doc(hidden)]
pub fn test_tiff(entries: &[(u16, u16, u32, u32)], data: &[u8]) -> Vec<u8> {
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(count.to_le_bytes());
        out.extend(value.to_le_bytes());
    }
    out.extend(0u32.to_le_bytes());
    out.extend(data);
    out
}

/// Where [`test_tiff`]'s data starts for `entries` directory entries.
#[doc(hidden)]
pub fn test_tiff_data_offset(entries: usize) -> u32 {
    (8 + 2 + entries * 12 + 4) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_size(jpeg: &[u8]) -> Option<(u32, u32)> {
        let decoder = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg)).ok()?;
        Some(image::ImageDecoder::dimensions(&decoder))
    }

    /// A little-endian TIFF with IFD0 (Make, Orientation) pointing at a JPEG through
    /// JPEGInterchangeFormat, as NEF and PEF files do.
    fn tiny_raw(jpeg: &[u8], make: &[u8; 6], orientation: u16) -> Vec<u8> {
        let data = test_tiff_data_offset(4);
        let entries = [
            (0x010F, 2, 6, data),
            (0x0112, 3, 1, u32::from(orientation)),
            (0x0201, 4, 1, data + 6),
            (0x0202, 4, 1, jpeg.len() as u32),
        ];
        test_tiff(&entries, &[make.as_slice(), jpeg].concat())
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::new(width, height)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .unwrap();
        out
    }

    #[test]
    fn the_embedded_preview_and_the_raw_orientation_are_found() {
        let preview = jpeg(400, 300);
        let raw = tiny_raw(&preview, b"NIKON\0", 6);
        assert_eq!(kind_of(&raw), Some("nef"));
        let found = embedded_preview(&raw, jpeg_size).unwrap();
        assert_eq!((found.kind, found.jpeg, found.orientation), ("nef", preview.as_slice(), Some(6)));
    }

    #[test]
    fn a_thumbnail_sized_preview_is_not_enough() {
        let raw = tiny_raw(&jpeg(160, 120), b"NIKON\0", 1);
        assert_eq!(embedded_preview(&raw, jpeg_size), Err(RawError::NoPreview { kind: "nef" }));
    }

    #[test]
    fn truncated_and_damaged_raw_files_fail_alone_without_panicking() {
        let raw = tiny_raw(&jpeg(400, 300), b"NIKON\0", 1);
        each_damaged_copy(&raw, 12345, |bytes| {
            let _outcome = embedded_preview(bytes, jpeg_size);
        });
    }

    /// Gives `read` every truncation of `bytes`, then 2,000 copies with 4 bytes changed at
    /// random (a fixed `seed`, so a failure repeats).
    fn each_damaged_copy(bytes: &[u8], seed: u32, read: impl Fn(&[u8])) {
        for cut in 0..bytes.len() {
            read(&bytes[..cut]);
        }
        let mut state = seed;
        for _ in 0..2000 {
            let mut damaged = bytes.to_vec();
            for _ in 0..4 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let at = (state >> 8) as usize % damaged.len();
                damaged[at] = (state >> 16) as u8;
            }
            read(&damaged);
        }
    }

    /// The generated CR3 ([`test_cr3`]) and its 400x300 preview.
    fn tiny_cr3(orientation: u16) -> (Vec<u8>, Vec<u8>) {
        let preview = jpeg(400, 300);
        (test_cr3(orientation, &jpeg(160, 120), &preview), preview)
    }

    #[test]
    fn a_cr3_preview_and_its_facts_are_found_in_its_boxes() {
        let (cr3, preview) = tiny_cr3(6);
        assert_eq!(kind_of(&cr3), Some("cr3"));
        let found = embedded_preview(&cr3, jpeg_size).unwrap();
        assert_eq!((found.kind, found.jpeg, found.orientation), ("cr3", preview.as_slice(), Some(6)));
        let facts = metadata(&cr3);
        assert_eq!(facts.camera_make.as_deref(), Some("Canon"));
        assert_eq!(facts.camera_model.as_deref(), Some("EOS R"));
        assert_eq!(facts.taken_at, crate::metadata::parse_exif_datetime("2021:03:14 15:09:26"));
        let (lat, lon) = facts.gps.unwrap();
        assert!((lat - (40.0 + 25.0 / 60.0)).abs() < 1e-9 && (lon + 3.7).abs() < 1e-9, "{lat} {lon}");
    }

    #[test]
    fn truncated_and_damaged_cr3_files_fail_alone_without_panicking() {
        let (cr3, _) = tiny_cr3(1);
        each_damaged_copy(&cr3, 777, |bytes| {
            let _outcome = embedded_preview(bytes, jpeg_size);
            let _ = metadata(bytes);
        });
        assert_eq!(
            embedded_preview(&cr3[..100], jpeg_size).map(|p| p.kind),
            Err(RawError::Malformed { kind: "cr3", problem: "no moov box" })
        );
    }

    #[test]
    fn plain_tiffs_and_other_files_are_not_raw() {
        let mut tiff = Vec::new();
        image::RgbImage::new(8, 8).write_to(&mut std::io::Cursor::new(&mut tiff), image::ImageFormat::Tiff).unwrap();
        assert_eq!(kind_of(&tiff), None);
        assert_eq!(kind_of(b"\xFF\xD8\xFF\xE0"), None);
        assert_eq!(kind_of(b""), None);
    }
}
