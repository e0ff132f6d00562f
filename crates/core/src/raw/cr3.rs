//! Canon CR3: an ISO-BMFF container (boxes of `size`, `type`, body). What Photo Search needs is
//! in two places, as described by L. Clevy's "Canon CR3 format" notes and read by ExifTool:
//! - `moov` / Canon's `uuid` box: `CMT1` (a TIFF whose IFD0 has the make, model and
//!   orientation), `CMT2` (the Exif IFD: the date taken), `CMT4` (the GPS IFD) and `THMB` (a
//!   160x120 thumbnail);
//! - a top-level preview `uuid` box holding `PRVW`: a JPEG of about 1620x1080.
//!
//! The full-size CRX-compressed sensor data is never read. Every walk is bounded and every
//! offset checked, as for the TIFF-based formats.

use super::{RawError, Span, Tiff};
use crate::metadata::{ExifFacts, dms_degrees, gps_position, hemisphere_sign, parse_exif_datetime, read_exif};

/// Canon's metadata box inside `moov`.
const CANON_UUID: [u8; 16] = *b"\x85\xc0\xb6\x87\x82\x0f\x11\xe0\x81\x11\xf4\xce\x46\x2b\x6a\x48";
/// The top-level box holding `PRVW`.
const PREVIEW_UUID: [u8; 16] = *b"\xea\xf4\x2b\x5e\x1c\x98\x4b\x88\xb9\xfb\xb7\xdc\x40\x6e\x4d\x16";
/// Boxes read at most in one container: a file of millions of empty boxes ends here.
const MAX_BOXES: usize = 256;
/// How far into a `PRVW` or `THMB` body the JPEG may start (their small headers of sizes).
const MAX_IMAGE_HEADER: usize = 32;

/// Whether `bytes` are a CR3 file (`ftyp` with the `crx ` brand).
pub(super) fn is_cr3(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(b"ftyp") && bytes.get(8..12) == Some(b"crx ")
}

/// One box: its type, its uuid when the type is `uuid`, and where its body lies in the file.
struct Bmff {
    kind: [u8; 4],
    uuid: Option<[u8; 16]>,
    body: Span,
}

/// The boxes laid end to end in `bytes[start..end]`, stopping at the first that does not fit.
fn boxes(bytes: &[u8], (start, end): Span) -> Vec<Bmff> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end && out.len() < MAX_BOXES {
        let Some(header) = bytes.get(at..at.saturating_add(8)) else { break };
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = [header[4], header[5], header[6], header[7]];
        let (size, mut body) = match size32 {
            0 => (end - at, at + 8),
            1 => {
                let Some(large) = bytes.get(at + 8..at + 16) else { break };
                let Ok(size) = usize::try_from(u64::from_be_bytes(large.try_into().unwrap_or_default())) else {
                    break;
                };
                (size, at + 16)
            }
            size => (size, at + 8),
        };
        let Some(box_end) = at.checked_add(size).filter(|e| *e <= end && size >= body - at) else { break };
        let uuid = if &kind == b"uuid" {
            let Some(id) = bytes.get(body..body + 16).filter(|_| body + 16 <= box_end) else { break };
            body += 16;
            id.try_into().ok()
        } else {
            None
        };
        out.push(Bmff { kind, uuid, body: (body, box_end) });
        at = box_end;
    }
    out
}

/// The JPEG inside a `PRVW` or `THMB` body: from its start-of-image marker, which follows a few
/// header fields, to the length the field just before it gives (or the body's end).
fn image_in(bytes: &[u8], (start, end): Span) -> Option<Span> {
    let head = bytes.get(start..end.min(start + MAX_IMAGE_HEADER))?;
    let soi = head.windows(3).position(|w| w == [0xFF, 0xD8, 0xFF])?;
    let jpeg_at = start + soi;
    let declared = (soi >= 4)
        .then(|| bytes.get(jpeg_at - 4..jpeg_at))
        .flatten()
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .filter(|len| *len > 0 && jpeg_at.checked_add(*len).is_some_and(|e| e <= end));
    Some((jpeg_at, declared.unwrap_or(end - jpeg_at)))
}

/// What a CR3 file holds for Photo Search.
pub(super) struct Cr3 {
    /// Embedded JPEGs: the `PRVW` preview and the `THMB` thumbnail.
    pub candidates: Vec<Span>,
    /// The date, camera, GPS position and orientation from `CMT1`, `CMT2` and `CMT4`.
    pub facts: ExifFacts,
}

pub(super) fn read(bytes: &[u8]) -> Result<Cr3, RawError> {
    let malformed = |problem| RawError::Malformed { kind: "cr3", problem };
    let top = boxes(bytes, (0, bytes.len()));
    let moov = top.iter().find(|b| &b.kind == b"moov").ok_or(malformed("no moov box"))?;
    let canon = boxes(bytes, moov.body)
        .into_iter()
        .find(|b| b.uuid == Some(CANON_UUID))
        .ok_or(malformed("no Canon metadata box"))?;
    let canon = boxes(bytes, canon.body);
    let body = |kind: &[u8; 4]| canon.iter().find(|b| &b.kind == kind).map(|b| b.body);

    let mut candidates = Vec::new();
    for preview in top.iter().filter(|b| b.uuid == Some(PREVIEW_UUID)) {
        // Eight bytes of unknown purpose, then the PRVW box.
        let inner = (preview.body.0.saturating_add(8).min(preview.body.1), preview.body.1);
        candidates
            .extend(boxes(bytes, inner).iter().filter(|b| &b.kind == b"PRVW").filter_map(|b| image_in(bytes, b.body)));
    }
    candidates.extend(body(b"THMB").and_then(|span| image_in(bytes, span)));

    let slice = |span: Option<Span>| span.and_then(|(start, end)| bytes.get(start..end));
    let mut facts = slice(body(b"CMT1")).map(|tiff| read_exif(tiff.to_vec())).unwrap_or_default();
    facts.orientation = facts.orientation.filter(|o| (1..=8).contains(o));
    if let Some(taken) = body(b"CMT2").and_then(|span| date_taken(bytes, span)) {
        facts.taken_at = Some(taken);
    }
    if let Some(gps) = body(b"CMT4").and_then(|span| gps(bytes, span)) {
        facts.gps = Some(gps);
    }
    Ok(Cr3 { candidates, facts })
}

/// `CMT2` is a TIFF whose first directory is the Exif IFD: DateTimeOriginal, else
/// DateTimeDigitized.
fn date_taken(bytes: &[u8], (start, _): Span) -> Option<i64> {
    let tiff = Tiff::new(bytes, start)?;
    let entries = tiff.entries(tiff.u32_at(4)? as usize)?;
    [0x9003, 0x9004].into_iter().find_map(|tag| {
        let entry = entries.iter().find(|e| e.tag == tag)?;
        parse_exif_datetime(&tiff.ascii(entry)?)
    })
}

/// `CMT4` is a TIFF whose first directory is the GPS IFD: latitude and longitude as degrees,
/// minutes and seconds with their hemisphere letters.
fn gps(bytes: &[u8], (start, _): Span) -> Option<(f64, f64)> {
    let tiff = Tiff::new(bytes, start)?;
    let entries = tiff.entries(tiff.u32_at(4)? as usize)?;
    let find = |tag: u16| entries.iter().find(|e| e.tag == tag);
    let coordinate = |value: u16, hemisphere: u16, negative: &str| -> Option<f64> {
        let entry = find(value)?;
        let degrees = dms_degrees(|i| tiff.rational(entry, i))?;
        Some(hemisphere_sign(find(hemisphere).and_then(|e| tiff.ascii(e)).as_deref(), negative) * degrees)
    };
    gps_position(coordinate(2, 1, "S"), coordinate(4, 3, "W"))
}

/// A CR3 as a Canon EOS R writes one, for tests: CMT1 says Canon, EOS R and `orientation`; CMT2
/// that it was taken 2021-03-14 15:09:26; CMT4 that it was at 40°25'N 3°42'W (Madrid); with
/// `thumbnail` and `preview` JPEGs.
#[doc(hidden)]
pub fn test_cr3(orientation: u16, thumbnail: &[u8], preview: &[u8]) -> Vec<u8> {
    use super::{test_tiff, test_tiff_data_offset};
    let at = test_tiff_data_offset(3);
    let cmt1 = test_tiff(
        &[(0x010F, 2, 6, at), (0x0110, 2, 6, at + 6), (0x0112, 3, 1, u32::from(orientation))],
        b"Canon\0EOS R\0",
    );
    let cmt2 = test_tiff(&[(0x9003, 2, 20, test_tiff_data_offset(1))], b"2021:03:14 15:09:26\0");
    let at = test_tiff_data_offset(4);
    let rationals: Vec<u8> = [40u32, 1, 25, 1, 0, 1, 3, 1, 42, 1, 0, 1].iter().flat_map(|p| p.to_le_bytes()).collect();
    let cmt4 = test_tiff(
        &[(1, 2, 2, u32::from(b'N')), (2, 5, 3, at), (3, 2, 2, u32::from(b'W')), (4, 5, 3, at + 24)],
        &rationals,
    );
    cr3_of(&cmt1, &cmt2, &cmt4, thumbnail, preview)
}

/// A CR3 with the boxes above: `cmt1`, `cmt2`, `cmt4` TIFFs, a thumbnail and a preview JPEG.
fn cr3_of(cmt1: &[u8], cmt2: &[u8], cmt4: &[u8], thumbnail: &[u8], preview: &[u8]) -> Vec<u8> {
    fn boxed(kind: &[u8; 4], uuid: Option<&[u8; 16]>, body: &[u8]) -> Vec<u8> {
        let size = 8 + uuid.map_or(0, |u| u.len()) + body.len();
        let mut out = (size as u32).to_be_bytes().to_vec();
        out.extend(kind);
        out.extend(uuid.into_iter().flatten());
        out.extend(body);
        out
    }
    fn image_box(kind: &[u8; 4], jpeg: &[u8]) -> Vec<u8> {
        // Unknown, width, height (left zero: the JPEG's own header decides), then the length.
        let mut body = vec![0u8; 12];
        body.extend((jpeg.len() as u32).to_be_bytes());
        body.extend(jpeg);
        boxed(kind, None, &body)
    }
    let canon = [
        boxed(b"CNCV", None, b"CanonCR3_001/00.09.00/00.00.00"),
        boxed(b"CMT1", None, cmt1),
        boxed(b"CMT2", None, cmt2),
        boxed(b"CMT4", None, cmt4),
        image_box(b"THMB", thumbnail),
    ]
    .concat();
    let moov = boxed(b"moov", None, &boxed(b"uuid", Some(&CANON_UUID), &canon));
    let preview =
        boxed(b"uuid", Some(&PREVIEW_UUID), &[vec![0, 0, 0, 0, 0, 0, 0, 1], image_box(b"PRVW", preview)].concat());
    [boxed(b"ftyp", None, b"crx \0\0\0\x01crx isom"), moov, preview, boxed(b"mdat", None, &[0; 16])].concat()
}
