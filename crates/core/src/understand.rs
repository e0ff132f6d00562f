//! What a typed query says beyond its words: a date ("beach 2019", "snow in december",
//! "last summer", "birthday march 2021") becomes a date filter and the rest stays the semantic
//! query. Only unambiguous forms are taken: a bare year must end the query or follow a
//! preposition ("1984 poster" stays words), a month or season needs a preposition or a year
//! ("protest march" stays words), and a query with nothing left but the date is left alone.

use crate::metadata::days_from_civil;

/// A civil date (the photos' dates are their local time, stored as if UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day {
    /// The year.
    pub year: i64,
    /// The month (1-12).
    pub month: i64,
    /// The day of the month.
    pub day: i64,
}

impl Day {
    /// A day (not checked; the callers pass real ones).
    pub fn new(year: i64, month: i64, day: i64) -> Self {
        Day { year, month, day }
    }

    /// The day of `unix` seconds.
    pub fn of_unix(unix: i64) -> Self {
        let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
        Day { year, month, day }
    }

    fn days(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    fn plus_days(self, n: i64) -> Self {
        let (year, month, day) = civil_from_days(self.days() + n);
        Day { year, month, day }
    }

    fn start(self) -> i64 {
        self.days() * 86_400
    }

    fn end(self) -> i64 {
        self.start() + 86_399
    }
}

/// When the photos were taken, as a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Between two moments (Unix seconds, inclusive; either may be open).
    Range {
        /// The first second.
        from: Option<i64>,
        /// The last second.
        to: Option<i64>,
    },
    /// These months (1-12) of any year.
    Months(Vec<u8>),
}

/// A query split into what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Understood {
    /// The words left for the semantic search.
    pub text: String,
    /// The dates the words asked for, if any.
    pub when: Option<When>,
    /// What the date was understood as, for a chip that can be removed ("March 2021").
    pub label: Option<String>,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const PREPOSITIONS: [&str; 5] = ["in", "during", "from", "of", "on"];

/// A month's full name or its three-letter abbreviation ("sept" too).
fn month_of(word: &str) -> Option<i64> {
    let word = word.trim_end_matches('.');
    let abbreviated = |m: &str| (word.len() == 3 || word == "sept") && m.starts_with(word);
    MONTHS.iter().position(|m| *m == word || abbreviated(m)).map(|i| i as i64 + 1)
}

fn month_name(month: i64) -> String {
    let name = MONTHS[(month - 1) as usize];
    name[..1].to_uppercase() + &name[1..]
}

/// The first month of a season and its name (northern hemisphere: winter starts in December).
fn season_of(word: &str) -> Option<(i64, &'static str)> {
    match word {
        "spring" => Some((3, "spring")),
        "summer" => Some((6, "summer")),
        "autumn" | "fall" => Some((9, "autumn")),
        "winter" => Some((12, "winter")),
        _ => None,
    }
}

fn season_months(first: i64) -> Vec<u8> {
    (0..3).map(|i| ((first - 1 + i) % 12 + 1) as u8).collect()
}

/// The season starting in month `first` of `year` (winter runs into the next year).
fn season_range(first: i64, year: i64) -> (Day, Day) {
    let start = Day::new(year, first, 1);
    let (end_year, end_month) = if first + 2 > 12 { (year + 1, first + 2 - 12) } else { (year, first + 2) };
    (start, last_day(end_year, end_month))
}

fn last_day(year: i64, month: i64) -> Day {
    let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    Day::new(ny, nm, 1).plus_days(-1)
}

fn year_of(word: &str, today: Day) -> Option<i64> {
    let year: i64 = word.parse().ok().filter(|_| word.len() == 4 && word.bytes().all(|b| b.is_ascii_digit()))?;
    (1900..=today.year).contains(&year).then_some(year)
}

fn range(from: Day, to: Day) -> When {
    When::Range { from: Some(from.start()), to: Some(to.end()) }
}

/// Today on this computer's calendar (local time, as the photos' dates are).
pub fn today() -> Day {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    Day::of_unix(now + local_offset_seconds(now))
}

#[cfg(unix)]
fn local_offset_seconds(now: i64) -> i64 {
    // SAFETY: localtime_r only writes the struct it is given.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t = now as libc::time_t;
        if libc::localtime_r(&t, &mut tm).is_null() { 0 } else { tm.tm_gmtoff }
    }
}

#[cfg(not(unix))]
fn local_offset_seconds(_: i64) -> i64 {
    0
}

/// Understands the dates and places of a query's positive text terms: each such term keeps only
/// its other words, and the filter narrows to them. `places` are the names of the places the
/// library's photos were taken in (only those can match). Returns what was understood, for
/// chips ("Taken: March 2021", "Place: Madrid").
pub fn understand_terms(
    terms: &mut [crate::query::WeightedTerm],
    filter: &mut crate::catalog::PhotoFilter,
    today: Day,
    places: &[String],
) -> Vec<String> {
    let mut labels = Vec::new();
    for term in terms.iter_mut().filter(|t| t.weight > 0.0) {
        if let crate::query::Term::Text(text) = &mut term.term {
            let understood = understand(text, today);
            if let (Some(when), Some(label)) = (understood.when, understood.label) {
                filter.narrow_to(&when);
                *text = understood.text;
                labels.push(format!("Taken: {label}"));
            }
            if filter.place.is_none()
                && let Some((rest, place)) = understand_place(text, places)
            {
                *text = rest;
                labels.push(format!("Place: {place}"));
                filter.place = Some(place);
            }
        }
    }
    labels
}

/// A place of the library named in `query` ("kids in madrid", "beach spain"): after "in", "at",
/// "near" or "from", or ending the query. Returns the other words and the place's name as stored.
pub fn understand_place(query: &str, places: &[String]) -> Option<(String, String)> {
    let words: Vec<&str> = query.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase().trim_matches([',', '.', ';']).to_string()).collect();
    // Each place name lower-cased once per query, not once per group of words tried.
    let lowered: Vec<String> = places.iter().map(|p| p.to_lowercase()).collect();
    let known = |name: &str| -> Option<String> {
        lowered
            .iter()
            .position(|p| p == name)
            .map(|i| places[i].clone())
            .or_else(|| places.iter().find(|p| crate::places::country_aliases(p).contains(&name)).cloned())
    };
    for start in 0..words.len() {
        for len in (1..=3).rev() {
            if start + len > words.len() {
                continue;
            }
            let Some(place) = known(&lower[start..start + len].join(" ")) else { continue };
            let word_before = |k: usize| start.checked_sub(k).map(|i| lower[i].as_str());
            let preposition = |w: Option<&str>| matches!(w, Some("in" | "at" | "near" | "from"));
            let determiner =
                matches!(word_before(1), Some("the" | "a" | "an" | "my" | "our" | "their" | "his" | "her"));
            // "in the uk": only a country takes "the"; "in the bath" is a tub.
            let is_country = crate::places::is_country_name(&place);
            let from = if preposition(word_before(1)) {
                start - 1
            } else if determiner && is_country && preposition(word_before(2)) {
                start - 2
            } else if !determiner && start + len == words.len() {
                start
            } else {
                continue;
            };
            let rest: Vec<&str> = words[..from].iter().chain(&words[start + len..]).copied().collect();
            let rest = rest.join(" ");
            if rest.trim().is_empty() {
                return None;
            }
            return Some((rest, place));
        }
    }
    None
}

/// A date expression found at some words: how many words it takes, the filter, its label.
type Found = (usize, When, String);

/// Splits `query` into a date filter and the words left; `today` anchors relative dates.
pub fn understand(query: &str, today: Day) -> Understood {
    let original: Vec<&str> = query.split_whitespace().collect();
    let words: Vec<String> =
        original.iter().map(|w| w.to_lowercase().trim_end_matches([',', ';']).to_string()).collect();
    let unchanged = Understood { text: query.trim().to_string(), when: None, label: None };
    for start in 0..words.len() {
        if let Some((len, when, label)) = date_at(&words, start, today) {
            let rest: Vec<&str> = original[..start].iter().chain(&original[start + len..]).copied().collect();
            let text = rest.join(" ").trim_matches(|c: char| c == ',' || c.is_whitespace()).to_string();
            if text.is_empty() {
                return unchanged;
            }
            return Understood { text, when: Some(when), label: Some(label) };
        }
    }
    unchanged
}

fn date_at(w: &[String], i: usize, today: Day) -> Option<Found> {
    let word = |k: usize| w.get(i + k).map(String::as_str);
    match word(0)? {
        "since" | "after" => {
            let (len, when, label) = date_at_core(w, i + 1, today, true)?;
            let from = match (&when, word(0)) {
                (When::Range { to: Some(to), .. }, Some("after")) => to + 1,
                (When::Range { from: Some(from), .. }, _) => *from,
                _ => return None,
            };
            return Some((len + 1, When::Range { from: Some(from), to: None }, format!("{} {label}", word(0)?)));
        }
        "before" => {
            let (len, when, label) = date_at_core(w, i + 1, today, true)?;
            let When::Range { from: Some(from), .. } = when else { return None };
            return Some((len + 1, When::Range { from: None, to: Some(from - 1) }, format!("before {label}")));
        }
        "between" | "from" => {
            if let Some(found) = between(w, i, today) {
                return Some(found);
            }
        }
        _ => {}
    }
    // A leading preposition belongs to the date that follows it.
    if PREPOSITIONS.contains(&w[i].as_str())
        && let Some((len, when, label)) = date_at_core(w, i + 1, today, true)
    {
        return Some((len + 1, when, label));
    }
    date_at_core(w, i, today, false)
}

/// "between 2015 and 2016", "from march 2020 to june 2020": a range from the start of one date
/// to the end of the other.
fn between(w: &[String], i: usize, today: Day) -> Option<Found> {
    let (a_len, a, a_label) = date_at_core(w, i + 1, today, true)?;
    let joiner = w.get(i + 1 + a_len)?.as_str();
    if !matches!(joiner, "and" | "to" | "-" | "until") {
        return None;
    }
    let (b_len, b, b_label) = date_at_core(w, i + 2 + a_len, today, true)?;
    match (a, b) {
        (When::Range { from: Some(from), .. }, When::Range { to: Some(to), .. }) if from <= to => {
            Some((2 + a_len + b_len, When::Range { from: Some(from), to: Some(to) }, format!("{a_label} to {b_label}")))
        }
        _ => None,
    }
}

/// A date starting at word `i`; `introduced` when a preposition came before it (which lets a bare
/// month, season or year stand alone).
fn date_at_core(w: &[String], i: usize, today: Day, introduced: bool) -> Option<Found> {
    let word = |k: usize| w.get(i + k).map(String::as_str);
    let first = word(0)?;
    let at_end = |len: usize| i + len == w.len();
    match first {
        "today" => return Some((1, range(today, today), "today".into())),
        "yesterday" => {
            let day = today.plus_days(-1);
            return Some((1, range(day, day), "yesterday".into()));
        }
        "this" | "last" | "past" => return relative(first, word(1)?, today),
        _ => {}
    }
    // "3 days ago", "two years ago"
    if let (Some(n), Some(unit), Some("ago")) = (number(first), word(1), word(2)) {
        return ago(n, unit, today);
    }
    // ISO: 2021-03-14 or 2021-03
    if let Some(found) = iso(first, today) {
        return Some(found);
    }
    // 14 march 2021
    if let (Ok(d), Some(m), Some(y)) =
        (first.parse::<i64>(), word(1).and_then(month_of), word(2).and_then(|y| year_of(y, today)))
    {
        return day_found(3, y, m, d);
    }
    if let Some(m) = month_of(first) {
        // march 14 2021
        if let (Some(Ok(d)), Some(y)) = (word(1).map(str::parse::<i64>), word(2).and_then(|y| year_of(y, today))) {
            return day_found(3, y, m, d);
        }
        // march 2021
        if let Some(y) = word(1).and_then(|y| year_of(y, today)) {
            return Some((2, range(Day::new(y, m, 1), last_day(y, m)), format!("{} {y}", month_name(m))));
        }
        // in december
        if introduced {
            return Some((1, When::Months(vec![m as u8]), format!("{} (any year)", month_name(m))));
        }
        return None;
    }
    if let Some((first_month, name)) = season_of(first) {
        if let Some(y) = word(1).and_then(|y| year_of(y, today)) {
            let (from, to) = season_range(first_month, y);
            return Some((2, range(from, to), format!("{name} {y}")));
        }
        if introduced {
            return Some((1, When::Months(season_months(first_month)), format!("{name} (any year)")));
        }
        return None;
    }
    let year = year_of(first, today)?;
    (introduced || at_end(1)).then(|| (1, range(Day::new(year, 1, 1), Day::new(year, 12, 31)), year.to_string()))
}

fn day_found(len: usize, y: i64, m: i64, d: i64) -> Option<Found> {
    if !(1..=last_day(y, m).day).contains(&d) {
        return None;
    }
    let day = Day::new(y, m, d);
    Some((len, range(day, day), format!("{d} {} {y}", month_name(m))))
}

fn iso(word: &str, today: Day) -> Option<Found> {
    let parts: Vec<&str> = word.split('-').collect();
    let y = year_of(parts.first()?, today)?;
    let m: i64 = parts.get(1)?.parse().ok().filter(|m| (1..=12).contains(m) && parts[1].len() == 2)?;
    match parts.get(2) {
        None => Some((1, range(Day::new(y, m, 1), last_day(y, m)), format!("{} {y}", month_name(m)))),
        Some(d) if parts.len() == 3 && d.len() == 2 => day_found(1, y, m, d.parse().ok()?),
        _ => None,
    }
}

fn number(word: &str) -> Option<i64> {
    const WORDS: [&str; 10] = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];
    match word {
        "a" | "an" => Some(1),
        _ => word
            .parse()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .or_else(|| WORDS.iter().position(|w| *w == word).map(|i| i as i64 + 1)),
    }
}

fn unit(word: &str) -> Option<&'static str> {
    match word.trim_end_matches('s') {
        "day" => Some("day"),
        "week" => Some("week"),
        "month" => Some("month"),
        "year" => Some("year"),
        _ => None,
    }
}

/// Monday of the week of `day`.
fn monday(day: Day) -> Day {
    // 1970-01-01 was a Thursday.
    let weekday = (day.days() + 3).rem_euclid(7);
    day.plus_days(-weekday)
}

fn month_back(day: Day, n: i64) -> (i64, i64) {
    let index = day.year * 12 + day.month - 1 - n;
    (index.div_euclid(12), index.rem_euclid(12) + 1)
}

fn ago(n: i64, unit_word: &str, today: Day) -> Option<Found> {
    let unit = unit(unit_word)?;
    let plural = if n == 1 { "" } else { "s" };
    let label = format!("{n} {unit}{plural} ago");
    let (from, to) = match unit {
        "day" => (today.plus_days(-n), today.plus_days(-n)),
        "week" => {
            let start = monday(today).plus_days(-7 * n);
            (start, start.plus_days(6))
        }
        "month" => {
            let (y, m) = month_back(today, n);
            (Day::new(y, m, 1), last_day(y, m))
        }
        _ => (Day::new(today.year - n, 1, 1), Day::new(today.year - n, 12, 31)),
    };
    Some((3, range(from, to), label))
}

fn relative(which: &str, what: &str, today: Day) -> Option<Found> {
    let last = which != "this";
    if let Some((first, name)) = season_of(what) {
        // This season: the one of this year (winter: the one that began last December until
        // March). Last season: the latest one that has ended.
        let this_year = if first == 12 && today.month < 3 { today.year - 1 } else { today.year };
        let year = if !last {
            this_year
        } else {
            let (_, end) = season_range(first, this_year);
            if end < today { this_year } else { this_year - 1 }
        };
        let (from, to) = season_range(first, year);
        return Some((2, range(from, to), format!("{which} {name} ({name} {year})")));
    }
    let unit = unit(what).filter(|_| !what.ends_with('s'))?;
    let (from, to) = match (unit, last) {
        ("day", _) => return None,
        ("week", false) => (monday(today), today),
        ("week", true) => {
            let start = monday(today).plus_days(-7);
            (start, start.plus_days(6))
        }
        ("month", false) => (Day::new(today.year, today.month, 1), today),
        ("month", true) => {
            let (y, m) = month_back(today, 1);
            (Day::new(y, m, 1), last_day(y, m))
        }
        (_, false) => (Day::new(today.year, 1, 1), today),
        (_, true) => (Day::new(today.year - 1, 1, 1), Day::new(today.year - 1, 12, 31)),
    };
    let year = if unit == "year" { format!(" ({})", from.year) } else { String::new() };
    Some((2, range(from, to), format!("{which} {unit}{year}")))
}

/// The civil date of a day number (days since 1970-01-01); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Day = Day { year: 2026, month: 11, day: 23 };

    fn span(from: (i64, i64, i64), to: (i64, i64, i64)) -> Option<When> {
        Some(range(Day::new(from.0, from.1, from.2), Day::new(to.0, to.1, to.2)))
    }

    #[test]
    fn dates_in_queries_become_filters_and_the_rest_stays_the_query() {
        let months = |m: &[u8]| Some(When::Months(m.to_vec()));
        let cases: Vec<(&str, &str, Option<When>)> = vec![
            // Years
            ("beach 2019", "beach", span((2019, 1, 1), (2019, 12, 31))),
            ("kids at the beach in 2019", "kids at the beach", span((2019, 1, 1), (2019, 12, 31))),
            ("from 2018 to 2020 mountains", "mountains", span((2018, 1, 1), (2020, 12, 31))),
            ("dogs between 2015 and 2016", "dogs", span((2015, 1, 1), (2016, 12, 31))),
            ("cats since 2020", "cats", Some(When::Range { from: Some(Day::new(2020, 1, 1).start()), to: None })),
            ("cats after 2020", "cats", Some(When::Range { from: Some(Day::new(2021, 1, 1).start()), to: None })),
            ("cats before 2010", "cats", Some(When::Range { from: None, to: Some(Day::new(2010, 1, 1).start() - 1) })),
            // Months and days
            ("birthday march 2021", "birthday", span((2021, 3, 1), (2021, 3, 31))),
            ("snow in december", "snow", months(&[12])),
            ("party in Feb 2020", "party", span((2020, 2, 1), (2020, 2, 29))),
            ("wedding 14 june 2014", "wedding", span((2014, 6, 14), (2014, 6, 14))),
            ("wedding june 14, 2014", "wedding", span((2014, 6, 14), (2014, 6, 14))),
            ("receipt 2023-04-05", "receipt", span((2023, 4, 5), (2023, 4, 5))),
            ("receipt 2023-04", "receipt", span((2023, 4, 1), (2023, 4, 30))),
            // Seasons
            ("snow in winter", "snow", months(&[12, 1, 2])),
            ("lake summer 2019", "lake", span((2019, 6, 1), (2019, 8, 31))),
            ("skiing winter 2019", "skiing", span((2019, 12, 1), (2020, 2, 29))),
            ("last summer at the lake", "at the lake", span((2026, 6, 1), (2026, 8, 31))),
            ("this winter snowman", "snowman", span((2026, 12, 1), (2027, 2, 28))),
            ("leaves last autumn", "leaves", span((2025, 9, 1), (2025, 11, 30))),
            // Relative to today (Monday 23 November 2026)
            ("cake today", "cake", span((2026, 11, 23), (2026, 11, 23))),
            ("cake yesterday", "cake", span((2026, 11, 22), (2026, 11, 22))),
            ("hike last week", "hike", span((2026, 11, 16), (2026, 11, 22))),
            ("hike this month", "hike", span((2026, 11, 1), (2026, 11, 23))),
            ("hike last month", "hike", span((2026, 10, 1), (2026, 10, 31))),
            ("trip last year", "trip", span((2025, 1, 1), (2025, 12, 31))),
            ("trip 2 years ago", "trip", span((2024, 1, 1), (2024, 12, 31))),
            ("dinner three days ago", "dinner", span((2026, 11, 20), (2026, 11, 20))),
            ("dinner a month ago", "dinner", span((2026, 10, 1), (2026, 10, 31))),
            // Words that look like dates but are not
            ("1984 poster", "1984 poster", None),
            ("protest march", "protest march", None),
            ("may flowers", "may flowers", None),
            ("summer dress", "summer dress", None),
            ("route 66 sign", "route 66 sign", None),
            ("2049 blade runner", "2049 blade runner", None),
            ("in 3000 pieces", "in 3000 pieces", None),
            ("2019", "2019", None),
            ("last of us poster", "last of us poster", None),
        ];
        assert!(cases.len() >= 30);
        for (query, text, when) in cases {
            let understood = understand(query, TODAY);
            assert_eq!((understood.text.as_str(), &understood.when), (text, &when), "{query}: {understood:?}");
            assert_eq!(understood.label.is_some(), when.is_some(), "{query}");
        }
    }

    #[test]
    fn labels_say_what_was_understood() {
        let label = |q: &str| understand(q, TODAY).label.unwrap();
        assert_eq!(label("birthday march 2021"), "March 2021");
        assert_eq!(label("snow in december"), "December (any year)");
        assert_eq!(label("last summer lake"), "last summer (summer 2026)");
        assert_eq!(label("trip last year"), "last year (2025)");
    }

    #[test]
    fn places_of_the_library_become_a_filter() {
        let places: Vec<String> =
            ["Spain", "Madrid", "United Kingdom", "England", "New York City", "Bath"].map(String::from).to_vec();
        let cases = [
            ("kids in madrid", Some(("kids", "Madrid"))),
            ("tapas at Madrid", Some(("tapas", "Madrid"))),
            ("beach spain", Some(("beach", "Spain"))),
            ("skyline in new york city", Some(("skyline", "New York City"))),
            ("rain in the uk", Some(("rain", "United Kingdom"))),
            ("rain in uk", Some(("rain", "United Kingdom"))),
            ("bath toys", None),
            ("baby in the bath", None),
            ("madrid", None),
            ("kids in paris", None),
        ];
        for (query, expected) in cases {
            let found = understand_place(query, &places);
            assert_eq!(found.as_ref().map(|(t, p)| (t.as_str(), p.as_str())), expected, "{query}");
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        for day in [Day::new(1970, 1, 1), Day::new(2000, 2, 29), Day::new(2026, 11, 23), Day::new(1969, 12, 31)] {
            assert_eq!(Day::of_unix(day.start() + 3600), day);
        }
    }
}
