//! Search queries as typed values: weighted text and image terms, negatives, and filters,
//! parsed from what a person types, e.g. `"beach" + "sunset" - "people"`.

use std::path::PathBuf;

use crate::catalog::PhotoFilter;

/// Why a query cannot be run.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum QueryError {
    #[error("empty query")]
    Empty,
    #[error("a query needs at least one term that is not negative")]
    OnlyNegative,
    #[error("unclosed quote in query")]
    UnclosedQuote,
    #[error("an operator '{0}' must be followed by a term")]
    DanglingOperator(char),
    #[error("bad weight '{0}': use a positive number, e.g. 2*\"sunset\"")]
    BadWeight(String),
    #[error("bad photo id '{0}'")]
    BadPhotoId(String),
    #[error("bad date '{0}': use YYYY-MM-DD")]
    BadDate(String),
    #[error("a query vector has {got} dimensions, the model {expected}")]
    Dimensions { got: usize, expected: usize },
}

/// What one term asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// Words, embedded by the text encoder.
    Text(String),
    /// An image file, indexed or not.
    ImageFile(PathBuf),
    /// A photo of the library, by id.
    Photo(i64),
    /// An embedding computed earlier (an image given as bytes, say).
    Embedding(Vec<f32>),
}

/// A term and how much it counts.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedTerm {
    /// What the term asks for.
    pub term: Term,
    /// Negative for terms to move away from.
    pub weight: f32,
}

/// A complete search request.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// The weighted terms.
    pub terms: Vec<WeightedTerm>,
    /// Which photos may be returned.
    pub filter: PhotoFilter,
    /// Results wanted at most.
    pub limit: usize,
}

impl SearchQuery {
    /// A query, refused when it has no term or only negative ones.
    pub fn new(terms: Vec<WeightedTerm>, filter: PhotoFilter, limit: usize) -> Result<Self, QueryError> {
        if terms.is_empty() {
            return Err(QueryError::Empty);
        }
        if terms.iter().all(|t| t.weight <= 0.0) {
            return Err(QueryError::OnlyNegative);
        }
        Ok(SearchQuery { terms, filter, limit })
    }
}

/// The largest weight a term can have: `50*beach` weighs 10.
pub const MAX_WEIGHT: f32 = 10.0;

/// Parses the query language, the one grammar of the CLI, the app's search box (through the
/// `parse_query` operation) and the server:
/// - bare words form one text term: `kids on a beach`;
/// - `"quoted text"` is one term; `+` and `-` (standing alone or before a term) combine terms:
///   `"beach" + "sunset" - "people"`; `not:people` is the same as `-people`, and `not: people on
///   a beach` the same as `- people on a beach`;
/// - a comma ends a term: `beach, not: people, 2*sunset` is three terms;
/// - `2*"sunset"` or `0.5*beach` weighs a term (at most [`MAX_WEIGHT`]);
/// - `img:PATH` is an image file, `photo:ID` a photo of the library.
///
/// A `-` inside a word (`t-shirt`) is part of the word.
pub fn parse_terms(input: &str) -> Result<Vec<WeightedTerm>, QueryError> {
    let mut terms = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut sign = 1.0f32;
    let mut pending_op: Option<char> = None;
    let flush = |words: &mut Vec<String>, terms: &mut Vec<WeightedTerm>, sign: f32| {
        if !words.is_empty() {
            terms.push(WeightedTerm { term: Term::Text(words.join(" ")), weight: sign });
            words.clear();
        }
    };
    for token in tokenize(input)? {
        match token {
            Token::Comma => {
                flush(&mut words, &mut terms, sign);
                if let Some(op) = pending_op {
                    return Err(QueryError::DanglingOperator(op));
                }
                sign = 1.0;
            }
            Token::Op(op) => {
                flush(&mut words, &mut terms, sign);
                if let Some(previous) = pending_op {
                    return Err(QueryError::DanglingOperator(previous));
                }
                pending_op = Some(op);
                sign = if op == '-' { -1.0 } else { 1.0 };
            }
            Token::Word(word) => {
                let (negated, word) = match strip_not(&word) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                let (weight, atom) = split_weight(&word)?;
                if atom.is_empty() {
                    // A weight with nothing after it yet (`2*`): no term.
                    pending_op = None;
                    continue;
                }
                let is_special = atom.starts_with("img:") || atom.starts_with("photo:");
                if negated || weight.is_some() || is_special {
                    if !words.is_empty() {
                        // The sign belonged to the words before this term.
                        flush(&mut words, &mut terms, sign);
                        sign = 1.0;
                    }
                    let term = atom_term(atom)?;
                    let s = if negated { -1.0 } else { sign };
                    terms.push(WeightedTerm { term, weight: s * weight.unwrap_or(1.0) });
                    if !negated {
                        sign = 1.0;
                    }
                } else {
                    words.push(atom.to_string());
                }
                pending_op = None;
            }
            Token::Quoted { weight, text } => {
                flush(&mut words, &mut terms, sign);
                let weight = weight.as_deref().map(parse_weight).transpose()?.unwrap_or(1.0);
                if !text.trim().is_empty() {
                    terms.push(WeightedTerm { term: Term::Text(text), weight: sign * weight });
                }
                sign = 1.0;
                pending_op = None;
            }
        }
        if pending_op.is_none() && words.is_empty() {
            sign = 1.0;
        }
    }
    if let Some(op) = pending_op {
        return Err(QueryError::DanglingOperator(op));
    }
    flush(&mut words, &mut terms, sign);
    Ok(terms)
}

/// `word` without a leading `not:` (any case).
fn strip_not(word: &str) -> Option<&str> {
    word.get(..4).filter(|p| p.eq_ignore_ascii_case("not:")).map(|_| &word[4..])
}

fn atom_term(atom: &str) -> Result<Term, QueryError> {
    if let Some(path) = atom.strip_prefix("img:") {
        return Ok(Term::ImageFile(PathBuf::from(path)));
    }
    if let Some(id) = atom.strip_prefix("photo:") {
        return id.parse().map(Term::Photo).map_err(|_| QueryError::BadPhotoId(id.into()));
    }
    Ok(Term::Text(atom.to_string()))
}

fn split_weight(word: &str) -> Result<(Option<f32>, &str), QueryError> {
    match word.split_once('*') {
        Some((w, rest)) if !w.is_empty() && w.chars().all(|c| c.is_ascii_digit() || c == '.') => {
            Ok((Some(parse_weight(w)?), rest))
        }
        _ => Ok((None, word)),
    }
}

fn parse_weight(text: &str) -> Result<f32, QueryError> {
    text.parse::<f32>()
        .ok()
        .filter(|w| w.is_finite() && *w > 0.0)
        .map(|w| w.min(MAX_WEIGHT))
        .ok_or_else(|| QueryError::BadWeight(text.into()))
}

#[derive(Debug, PartialEq)]
enum Token {
    Comma,
    Op(char),
    Word(String),
    Quoted { weight: Option<String>, text: String },
}

fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        // An operator stands alone or directly before a term ("-people", "+\"sunset\"").
        if c == '+' || c == '-' {
            chars.next();
            tokens.push(Token::Op(c));
            continue;
        }
        if c == ',' {
            chars.next();
            tokens.push(Token::Comma);
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == ',' {
                break;
            }
            if c == '"' {
                chars.next();
                let mut text = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    text.push(c);
                }
                if !closed {
                    return Err(QueryError::UnclosedQuote);
                }
                let weight = word.strip_suffix('*').map(str::to_string);
                if word.eq_ignore_ascii_case("not:") {
                    tokens.push(Token::Op('-'));
                } else if !word.is_empty() && weight.is_none() {
                    tokens.push(Token::Word(std::mem::take(&mut word)));
                }
                tokens.push(Token::Quoted { weight, text });
                word.clear();
                break;
            }
            word.push(c);
            chars.next();
        }
        if word.eq_ignore_ascii_case("not:") {
            // `not: people` negates what follows, as `- people` does.
            tokens.push(Token::Op('-'));
        } else if !word.is_empty() {
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

/// Parses `YYYY-MM-DD` to the Unix seconds of that day's start, or of its last second. A day
/// the month does not have (`2024-02-30`) is refused.
pub fn parse_date(text: &str, end_of_day: bool) -> Result<i64, QueryError> {
    let bad = || QueryError::BadDate(text.into());
    let date: jiff::civil::Date = text.trim().parse().map_err(|_| bad())?;
    let (y, m, d) = (i64::from(date.year()), i64::from(date.month()), i64::from(date.day()));
    let start = crate::metadata::days_from_civil(y, m, d) * 86_400;
    Ok(if end_of_day { start + 86_399 } else { start })
}

/// A filter as the shells receive it, in words: every shell (CLI flags, the app's and the
/// server's `Filters`) builds its [`PhotoFilter`] through [`FilterFields::build`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterFields<'a> {
    /// A folder; resolved to its canonical path when it exists (a folder that is offline still
    /// filters by the path as given).
    pub folder: Option<&'a str>,
    /// `YYYY-MM-DD`, inclusive.
    pub from: Option<&'a str>,
    /// `YYYY-MM-DD`, inclusive.
    pub to: Option<&'a str>,
    /// Format names or extensions, any case: `jpg`, `.JPEG`, `tif`, `heic`; `raw` stands for
    /// every RAW format.
    pub formats: &'a [String],
    /// A town, region or country.
    pub place: Option<&'a str>,
}

impl FilterFields<'_> {
    /// The filter these words ask for.
    pub fn build(&self) -> Result<PhotoFilter, QueryError> {
        let given = |text: Option<&str>| text.map(str::trim).filter(|t| !t.is_empty()).map(str::to_string);
        let date = |text: Option<&str>, end| given(text).map(|t| parse_date(&t, end)).transpose();
        Ok(PhotoFilter {
            folder: given(self.folder).map(|f| {
                let path = std::path::PathBuf::from(f);
                path.canonicalize().unwrap_or(path)
            }),
            from: date(self.from, false)?,
            to: date(self.to, true)?,
            formats: self.formats.iter().flat_map(|f| format_names(f)).collect(),
            months: Vec::new(),
            place: given(self.place),
        })
    }
}

/// The format names the catalog stores for a name or extension a person gives.
pub fn format_names(given: &str) -> Vec<String> {
    match given.trim().trim_start_matches('.').to_ascii_lowercase().as_str() {
        "" => Vec::new(),
        "jpg" | "jpe" | "jfif" => vec!["jpeg".into()],
        "tif" => vec!["tiff".into()],
        "heif" => vec!["heic".into()],
        "raw" => crate::raw::RAW_KINDS.iter().map(|k| k.to_string()).collect(),
        other => vec![other.into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str, weight: f32) -> WeightedTerm {
        WeightedTerm { term: Term::Text(s.into()), weight }
    }

    /// The grammar every shell shares, one row per rule: what is typed, and the text terms with
    /// their weights it means.
    #[test]
    fn the_query_grammar() {
        let table: &[(&str, &[(&str, f32)])] = &[
            ("kids on a beach at sunset", &[("kids on a beach at sunset", 1.0)]),
            (r#""beach" + "sunset" - "people""#, &[("beach", 1.0), ("sunset", 1.0), ("people", -1.0)]),
            ("red t-shirt", &[("red t-shirt", 1.0)]),
            (
                r#"dog -cat not:people 2*"sunset" 0.5*beach"#,
                &[("dog", 1.0), ("cat", -1.0), ("people", -1.0), ("sunset", 2.0), ("beach", 0.5)],
            ),
            ("beach, not: people, 2*sunset", &[("beach", 1.0), ("people", -1.0), ("sunset", 2.0)]),
            ("kids on a beach,sunset", &[("kids on a beach", 1.0), ("sunset", 1.0)]),
            ("NOT: people on a beach", &[("people on a beach", -1.0)]),
            (r#"not:"people""#, &[("people", -1.0)]),
            ("- people, dog", &[("people", -1.0), ("dog", 1.0)]),
            ("50*beach", &[("beach", MAX_WEIGHT)]),
            ("not: 2*rain", &[("rain", -2.0)]),
            ("sea 2*", &[("sea", 1.0)]),
            (r#"2*"kids on a beach""#, &[("kids on a beach", 2.0)]),
            (" , beach ,, ", &[("beach", 1.0)]),
            ("", &[]),
        ];
        for (typed, expected) in table {
            let want: Vec<_> = expected.iter().map(|(t, w)| text(t, *w)).collect();
            assert_eq!(parse_terms(typed).unwrap(), want, "{typed}");
        }
    }

    #[test]
    fn image_and_photo_terms() {
        assert_eq!(
            parse_terms("img:/tmp/a.jpg + photo:42 - snow photo:7").unwrap(),
            vec![
                WeightedTerm { term: Term::ImageFile("/tmp/a.jpg".into()), weight: 1.0 },
                WeightedTerm { term: Term::Photo(42), weight: 1.0 },
                text("snow", -1.0),
                WeightedTerm { term: Term::Photo(7), weight: 1.0 },
            ]
        );
    }

    #[test]
    fn malformed_queries_are_explained() {
        assert_eq!(parse_terms(r#""beach"#), Err(QueryError::UnclosedQuote));
        assert_eq!(parse_terms("beach +"), Err(QueryError::DanglingOperator('+')));
        assert_eq!(parse_terms("beach -, sun"), Err(QueryError::DanglingOperator('-')));
        assert_eq!(parse_terms("0*beach"), Err(QueryError::BadWeight("0".into())));
        assert_eq!(parse_terms("photo:abc"), Err(QueryError::BadPhotoId("abc".into())));
        assert_eq!(
            SearchQuery::new(parse_terms("- people").unwrap(), PhotoFilter::default(), 5),
            Err(QueryError::OnlyNegative)
        );
    }

    #[test]
    fn dates_parse_to_day_bounds() {
        assert_eq!(parse_date("1970-01-02", false), Ok(86_400));
        assert_eq!(parse_date("1970-01-01", true), Ok(86_399));
        assert!(parse_date("2024-13-01", false).is_err());
    }

    #[test]
    fn every_shell_builds_the_same_filter_from_the_same_words() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let formats = ["JPG".to_string(), ".tif".into(), "raw".into(), " ".into()];
        let fields = FilterFields {
            folder: Some(link.to_str().unwrap()),
            from: Some(" 2024-02-01 "),
            to: Some("2024-02-29"),
            formats: &formats,
            place: Some("  "),
        };
        let filter = fields.build().unwrap();
        assert_eq!(filter.folder, Some(dir.path().canonicalize().unwrap()), "the folder is canonical");
        assert_eq!(filter.from, parse_date("2024-02-01", false).ok());
        assert_eq!(filter.to, Some(parse_date("2024-03-01", false).unwrap() - 1));
        assert_eq!(&filter.formats[..2], ["jpeg", "tiff"]);
        assert!(filter.formats.contains(&"nef".to_string()) && filter.formats.contains(&"cr3".to_string()));
        assert_eq!(filter.place, None, "blank is no filter");
        let offline = FilterFields { folder: Some("/no/such/drive/Photos"), ..Default::default() }.build().unwrap();
        assert_eq!(offline.folder.as_deref(), Some(std::path::Path::new("/no/such/drive/Photos")));
        for bad in ["2024-02-30", "2023-02-29", "2024-13-01", "24-1-1x", "yesterday"] {
            let fields = FilterFields { from: Some(bad), ..Default::default() };
            assert!(matches!(fields.build(), Err(QueryError::BadDate(_))), "{bad}");
        }
    }
}
