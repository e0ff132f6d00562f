//! Where a photo was taken, in words, from its GPS position: the nearest town of GeoNames'
//! places with over 1,000 people (the `reverse_geocoder` crate embeds them), its region and its
//! country. Offline: nothing is looked up on a network. Loaded on first use (about 150,000
//! places).

use std::sync::OnceLock;

use reverse_geocoder::ReverseGeocoder;

/// A photo's place, as stored in the catalog and matched by queries ("kids in madrid").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The nearest town.
    pub city: String,
    /// Its first-level region (a state, a province, a nation of the UK).
    pub region: String,
    /// Its country's common English name.
    pub country: String,
}

/// Farther than this from any town (at sea, in a desert), a position gets only its country if
/// it has one, else no place. Degrees on a unit sphere are not needed: the geocoder's distance is
/// the squared chord length, and 0.0001 is about 64 km.
const NEAREST_TOWN: f64 = 0.0001;

fn geocoder() -> &'static ReverseGeocoder {
    static GEOCODER: OnceLock<ReverseGeocoder> = OnceLock::new();
    GEOCODER.get_or_init(ReverseGeocoder::new)
}

/// The place of a GPS position, if it is near a town.
pub fn place_of(lat: f64, lon: f64) -> Option<Place> {
    if !(lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0) {
        return None;
    }
    let found = geocoder().search((lat, lon));
    if found.distance > NEAREST_TOWN {
        return None;
    }
    let record = found.record;
    Some(Place { city: record.name.clone(), region: record.admin1.clone(), country: country_name(&record.cc) })
}

/// A country's common English name from its ISO 3166 code ("GB" -> "United Kingdom").
pub fn country_name(code: &str) -> String {
    let common = match code {
        "GB" => Some("United Kingdom"),
        "US" => Some("United States"),
        "KR" => Some("South Korea"),
        "KP" => Some("North Korea"),
        "RU" => Some("Russia"),
        "IR" => Some("Iran"),
        "VN" => Some("Vietnam"),
        "TW" => Some("Taiwan"),
        "SY" => Some("Syria"),
        "LA" => Some("Laos"),
        "TZ" => Some("Tanzania"),
        "CZ" => Some("Czechia"),
        "BO" => Some("Bolivia"),
        "VE" => Some("Venezuela"),
        "MD" => Some("Moldova"),
        "CD" => Some("DR Congo"),
        "MK" => Some("North Macedonia"),
        "NL" => Some("Netherlands"),
        "PS" => Some("Palestine"),
        _ => None,
    };
    if let Some(name) = common {
        return name.into();
    }
    match isocountry::CountryCode::for_alpha2(code) {
        // "Micronesia (Federated States of)" reads "Micronesia".
        Ok(country) => country.name().split(" (").next().unwrap_or(country.name()).trim().to_string(),
        Err(_) => code.to_string(),
    }
}

/// Whether `name` is a country's name as [`country_name`] gives it.
pub fn is_country_name(name: &str) -> bool {
    isocountry::CountryCode::as_array().iter().any(|c| country_name(c.alpha2()) == name)
}

/// Other names people type for a country ("uk", "usa", "england" for the United Kingdom's
/// photos is the region, which matches by itself).
pub fn country_aliases(country: &str) -> &'static [&'static str] {
    match country {
        "United Kingdom" => &["uk", "britain", "great britain"],
        "United States" => &["usa", "us", "america", "united states of america"],
        "Netherlands" => &["holland", "the netherlands"],
        "Czechia" => &["czech republic"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gps_positions_have_their_town_region_and_country() {
        // The positions of photos in ../shared/photos/camera.
        let madrid = place_of(40.4469722, -3.7247528).unwrap();
        assert_eq!((madrid.region.as_str(), madrid.country.as_str()), ("Madrid", "Spain"), "{madrid:?}");
        let england = place_of(51.5624657, -0.0773322).unwrap();
        assert_eq!((england.region.as_str(), england.country.as_str()), ("England", "United Kingdom"), "{england:?}");
        let france = place_of(48.8925, 2.2363889).unwrap();
        assert_eq!(france.country, "France", "{france:?}");
        // Mid-Atlantic: no town near.
        assert_eq!(place_of(35.0, -40.0), None);
        assert_eq!(place_of(f64::NAN, 1.0), None);
    }

    #[test]
    fn country_names_are_the_common_ones() {
        assert_eq!(country_name("GB"), "United Kingdom");
        assert_eq!(country_name("FR"), "France");
        assert_eq!(country_name("FM"), "Micronesia");
        assert_eq!(country_name("ZZ"), "ZZ");
    }
}
