//! Photo metadata read from EXIF: date taken, camera, GPS position, orientation.
//! Hostile or broken EXIF never fails a photo; the fields it spoils are simply absent.

use exif::{In, Tag, Value};

/// Facts about a photo kept in the catalog beside its vector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoMeta {
    /// Upright size in pixels (after EXIF orientation).
    pub width: Option<u32>,
    /// Upright height in pixels.
    pub height: Option<u32>,
    /// Lower-case format name from the file's content (`jpeg`, `png`, ...), not its extension.
    pub format: Option<String>,
    /// EXIF DateTimeOriginal as Unix seconds, the camera's wall clock read as UTC
    /// (EXIF rarely says the time zone).
    pub taken_at: Option<i64>,
    /// The camera's maker.
    pub camera_make: Option<String>,
    /// The camera's model.
    pub camera_model: Option<String>,
    /// Latitude and longitude in degrees.
    pub gps: Option<(f64, f64)>,
    /// The EXIF orientation (1-8).
    pub orientation: Option<u16>,
    /// Where `gps` is (town, region, country), named by the indexing worker.
    pub place: Option<Box<crate::places::Place>>,
}

/// The EXIF-derived part of [`PhotoMeta`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExifFacts {
    /// EXIF DateTimeOriginal (else DateTimeDigitized, else DateTime) as Unix seconds of the wall clock.
    pub taken_at: Option<i64>,
    /// The camera's maker.
    pub camera_make: Option<String>,
    /// The camera's model.
    pub camera_model: Option<String>,
    /// Latitude and longitude in degrees.
    pub gps: Option<(f64, f64)>,
    /// The EXIF orientation (1-8).
    pub orientation: Option<u16>,
}

/// Reads what it can from a raw EXIF (TIFF) block. Some writers keep JPEG's `Exif\0\0` marker in
/// front of the TIFF header in other containers (WebP, PNG); it is skipped.
pub fn read_exif(mut raw: Vec<u8>) -> ExifFacts {
    if raw.starts_with(b"Exif\0\0") {
        raw.drain(..6);
    }
    facts(exif::Reader::new().continue_on_error(true).read_raw(raw))
}

/// Reads what it can from the EXIF block inside a JPEG (or another container) file.
pub fn read_exif_from_file(bytes: &[u8]) -> ExifFacts {
    facts(exif::Reader::new().continue_on_error(true).read_from_container(&mut std::io::Cursor::new(bytes)))
}

fn facts(parsed: Result<exif::Exif, exif::Error>) -> ExifFacts {
    let exif = match parsed {
        Ok(exif) => exif,
        Err(exif::Error::PartialResult(partial)) => partial.into_inner().0,
        Err(err) => {
            tracing::debug!("unreadable EXIF: {err}");
            return ExifFacts::default();
        }
    };
    let text = |tag| exif.get_field(tag, In::PRIMARY).and_then(|f| ascii(&f.value));
    let taken_at = [Tag::DateTimeOriginal, Tag::DateTimeDigitized, Tag::DateTime]
        .into_iter()
        .find_map(|tag| text(tag).and_then(|s| parse_exif_datetime(&s)));
    let orientation = exif
        .get_field(Tag::Orientation, In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|o| u16::try_from(o).ok());
    let coordinate = |value_tag, ref_tag, negative: &str| {
        let degrees = exif.get_field(value_tag, In::PRIMARY).and_then(|f| dms(&f.value))?;
        Some(hemisphere_sign(text(ref_tag).as_deref(), negative) * degrees)
    };
    let gps = gps_position(
        coordinate(Tag::GPSLatitude, Tag::GPSLatitudeRef, "S"),
        coordinate(Tag::GPSLongitude, Tag::GPSLongitudeRef, "W"),
    );
    ExifFacts { taken_at, camera_make: text(Tag::Make), camera_model: text(Tag::Model), gps, orientation }
}

fn ascii(value: &Value) -> Option<String> {
    let Value::Ascii(parts) = value else { return None };
    let bytes = parts.first()?;
    let s = String::from_utf8_lossy(bytes).trim().trim_matches('\0').trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn dms(value: &Value) -> Option<f64> {
    let Value::Rational(parts) = value else { return None };
    dms_degrees(|i| parts.get(i).filter(|r| r.denom != 0).map(|r| r.to_f64()))
}

/// Degrees from EXIF's degrees, minutes and seconds (`part(0..3)`; minutes and seconds may be
/// absent). Also used by the CR3 reader, which keeps its GPS directory apart.
pub(crate) fn dms_degrees(part: impl Fn(usize) -> Option<f64>) -> Option<f64> {
    let degrees = part(0)? + part(1).unwrap_or(0.0) / 60.0 + part(2).unwrap_or(0.0) / 3600.0;
    degrees.is_finite().then_some(degrees)
}

/// -1 when the hemisphere letter is `negative` ("S", "W"), else 1.
pub(crate) fn hemisphere_sign(reference: Option<&str>, negative: &str) -> f64 {
    match reference {
        Some(r) if r.eq_ignore_ascii_case(negative) => -1.0,
        _ => 1.0,
    }
}

/// A position worth keeping: both coordinates, within range, and not 0,0 (a camera without a
/// fix writes that).
pub(crate) fn gps_position(lat: Option<f64>, lon: Option<f64>) -> Option<(f64, f64)> {
    match (lat?, lon?) {
        (lat, lon) if lat.abs() <= 90.0 && lon.abs() <= 180.0 && (lat, lon) != (0.0, 0.0) => Some((lat, lon)),
        _ => None,
    }
}

/// Parses EXIF's `YYYY:MM:DD HH:MM:SS` into Unix seconds of that wall-clock time read as UTC:
/// the day and hour the camera showed, which is what "photos of 2 May" means wherever they were
/// taken (an `OffsetTimeOriginal` is not applied, so a filter by day never moves a photo to the
/// day before).
pub fn parse_exif_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |range: std::ops::Range<usize>| s.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13).unwrap_or(0), num(14..16).unwrap_or(0), num(17..19).unwrap_or(0));
    if !(1800..=2200).contains(&year) {
        return None;
    }
    // A day the month does not have (`2024:02:31`, a camera's reset clock) is no date.
    jiff::civil::Date::new(i16::try_from(year).ok()?, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_datetime_is_read_as_utc_seconds() {
        assert_eq!(parse_exif_datetime("1970:01:01 00:00:00"), Some(0));
        assert_eq!(parse_exif_datetime("2024:02:29 12:30:15"), Some(1_709_209_815));
        assert_eq!(parse_exif_datetime("0000:00:00 00:00:00"), None);
        assert_eq!(parse_exif_datetime("garbage"), None);
        for impossible in ["2024:02:30 10:00:00", "2023:02:29 10:00:00", "2024:04:31 10:00:00", "2024:13:01 10:00:00"] {
            assert_eq!(parse_exif_datetime(impossible), None, "{impossible}");
        }
    }

    #[test]
    fn garbage_exif_yields_no_facts() {
        assert_eq!(read_exif(b"not a tiff header at all".to_vec()), ExifFacts::default());
    }
}
