//! Search requests in pages, and query images (drops, pastes, uploads) kept as embeddings.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use photo_search_core::duplicates::Tile;
use photo_search_core::query::{MAX_WEIGHT, SearchQuery, Term, WeightedTerm, parse_terms};
use photo_search_core::relevance::Relevance;
use photo_search_core::understand;

use crate::api::{ApiError, Hit, QueryTerm, SearchRequest, SearchResponse, UploadedImage};
use crate::{MAX_DEPTH, MAX_PAGE, MAX_UPLOAD_BYTES, Service, filter_of, lock};

/// Photos ranked beyond the page at least when similar shots are folded.
const FOLD_LOOKAHEAD: usize = 64;

/// The ranking of one query, grown as later pages ask for more. Pages are cut from it, so they
/// follow each other with no repeats even though each deeper index search may rank a little
/// differently. Each tile is one photo, or with `collapse` one photo and its similar shots.
#[derive(Default)]
pub(crate) struct Ranking {
    tiles: Vec<Tile>,
    seen: std::collections::HashSet<i64>,
    /// Photos ranked so far (tiles and the shots folded into them).
    ranked: usize,
    /// The index had no more results than this.
    complete: bool,
    /// Where its strong matches end, as the deepest search so far judged it.
    relevance: Option<Relevance>,
}

impl Service {
    /// One page of results. The first page (offset 0) ranks afresh; later pages continue that
    /// ranking, searching deeper only when the page needs it.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, ApiError> {
        let started = Instant::now();
        let engine = self.search_engine()?;
        let (query, understood) = self.query_of(request)?;
        let offset = request.offset as usize;
        let limit = request.limit.clamp(1, MAX_PAGE) as usize;
        let depth = (offset + limit).min(MAX_DEPTH);
        let key = serde_json::to_string(&(&request.terms, &request.filters, request.literal, request.collapse))
            .unwrap_or_default();
        let ranking = {
            let mut rankings = lock(&self.shared.rankings);
            if offset == 0 {
                rankings.pop(&key);
            }
            Arc::clone(rankings.get_or_insert(key, Default::default))
        };
        // No lock is held while searching, and only this query's while folding: other queries
        // go on meanwhile. Folded similar shots leave fewer tiles than photos, so that ranking
        // may search deeper again until the page is full (each search at least half again as
        // deep as the last).
        loop {
            let (tiles, ranked, complete) = {
                let r = lock(&ranking);
                (r.tiles.len(), r.ranked, r.complete)
            };
            if tiles >= depth || complete {
                break;
            }
            // Deeper than needed by half again (after the first page), so scrolling on does not
            // search at every page. Folding looks further ahead: a shot similar to a tile already
            // shown can no longer join it, and similar shots rank close to each other.
            let want = if ranked == 0 && !request.collapse {
                depth
            } else if request.collapse {
                (depth.max(ranked) * 3 / 2).max(depth + FOLD_LOOKAHEAD).min(MAX_DEPTH)
            } else {
                (depth.max(ranked) * 3 / 2).min(MAX_DEPTH)
            };
            let (found, relevance) = engine.search_judged(&SearchQuery { limit: want, ..query.clone() })?;
            let mut ranking = lock(&ranking);
            ranking.complete = found.len() < want || want >= MAX_DEPTH;
            ranking.relevance = Some(relevance);
            let new: Vec<(i64, f32)> = found.into_iter().filter(|(id, _)| ranking.seen.insert(*id)).collect();
            let first_rank = ranking.ranked;
            ranking.ranked += new.len();
            if request.collapse {
                engine.fold_similar(&mut ranking.tiles, offset, &new, first_rank)?;
            } else {
                ranking.tiles.extend(new.into_iter().enumerate().map(|(i, (id, score))| Tile {
                    id,
                    score,
                    similar: Vec::new(),
                    rank: first_rank + i,
                }));
            }
        }
        let ranking = lock(&ranking);
        let page: Vec<Tile> = ranking.tiles.iter().skip(offset).take(limit).cloned().collect();
        let total = ranking.tiles.len();
        let more = offset + page.len() < total || (!ranking.complete && ranking.ranked < MAX_DEPTH);
        let weak = ranking.relevance.is_some_and(|r| r.weak);
        // A cut inside the tiles so far; none while every result yet is a strong match.
        let strong = ranking
            .relevance
            .filter(|r| !r.weak && r.strong < ranking.ranked)
            .map(|r| ranking.tiles.iter().take_while(|t| t.rank < r.strong).count() as u32);
        drop(ranking);
        let hits = self.hits_of(&engine, &page)?;
        let took_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::debug!("search page at {offset}: {took_ms:.1} ms");
        Ok(SearchResponse { hits, offset: request.offset, more, strong, weak, understood, took_ms })
    }

    /// The hits of a page of tiles, the similar shots of each inside its hit, in one query.
    fn hits_of(&self, engine: &photo_search_core::engine::Engine, page: &[Tile]) -> Result<Vec<Hit>, ApiError> {
        let photos: Vec<(i64, f32)> =
            page.iter().flat_map(|t| std::iter::once((t.id, t.score)).chain(t.similar.iter().copied())).collect();
        let mut found: std::collections::HashMap<i64, Hit> = engine
            .hits(&photos)?
            .into_iter()
            .map(|h| {
                let hit = Hit {
                    id: h.id,
                    path: h.path.display().to_string(),
                    score: h.score,
                    taken_at: h.taken_at,
                    thumbnail: h.thumbnail.map(|p| p.display().to_string()),
                    similar: Vec::new(),
                };
                (h.id, hit)
            })
            .collect();
        Ok(page
            .iter()
            .filter_map(|tile| {
                let mut hit = found.remove(&tile.id)?;
                hit.similar = tile.similar.iter().filter_map(|(id, _)| found.remove(id)).collect();
                Some(hit)
            })
            .collect())
    }

    /// What a person typed in the search box, as the terms it means, in the core's grammar (the
    /// one the CLI reads): `beach, not: people, 2*"sunset"` is three terms.
    pub fn parse_query(&self, text: &str) -> Result<Vec<QueryTerm>, ApiError> {
        let terms = parse_terms(text).map_err(|e| ApiError::bad_request(e.to_string()))?;
        terms
            .into_iter()
            .map(|WeightedTerm { term, weight }| match term {
                Term::Text(text) => Ok(QueryTerm::Text { text, weight }),
                Term::Photo(id) => Ok(QueryTerm::Photo { id, weight }),
                Term::ImageFile(_) | Term::Embedding(_) => Err(ApiError::bad_request(
                    "img: reads a file on the command line; drop or paste the image here instead",
                )),
            })
            .collect()
    }

    /// The request's terms and filters as a core query, with the dates its words were
    /// understood as (unless the request is literal).
    pub(crate) fn query_of(&self, request: &SearchRequest) -> Result<(SearchQuery, Vec<String>), ApiError> {
        let mut terms = Vec::with_capacity(request.terms.len());
        for term in &request.terms {
            let (term, weight) = match term {
                QueryTerm::Text { text, weight } => {
                    let text = text.trim();
                    if text.is_empty() {
                        continue;
                    }
                    (Term::Text(text.to_string()), *weight)
                }
                QueryTerm::Photo { id, weight } => (Term::Photo(*id), *weight),
                QueryTerm::Image { token, weight } => {
                    let vector = lock(&self.shared.uploads).get(token).cloned().ok_or_else(|| {
                        ApiError::not_found("that image is no longer in memory; drop or upload it again")
                    })?;
                    (Term::Embedding(vector), *weight)
                }
            };
            if !weight.is_finite() {
                return Err(ApiError::bad_request("term weights must be numbers"));
            }
            terms.push(WeightedTerm { term, weight: weight.clamp(-MAX_WEIGHT, MAX_WEIGHT) });
        }
        let mut filter = filter_of(&request.filters)?;
        let understood = if request.literal {
            Vec::new()
        } else {
            let places = self.search_engine()?.place_names()?;
            understand::understand_terms(&mut terms, &mut filter, understand::today(), &places)
        };
        let query = SearchQuery::new(terms, filter, 1).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok((query, understood))
    }

    /// Embeds an image given as bytes (a drop, a paste, an upload) for later queries.
    pub fn upload_image(&self, bytes: &[u8], label: &str) -> Result<UploadedImage, ApiError> {
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(ApiError::bad_request(format!("image too large ({} MB)", bytes.len() >> 20)));
        }
        let token = blake3::hash(bytes).to_hex()[..24].to_string();
        if lock(&self.shared.uploads).get(&token).is_none() {
            let vector = self.search_engine()?.embed_image_bytes(bytes)?;
            lock(&self.shared.uploads).put(token.clone(), vector);
        }
        let label = if label.trim().is_empty() { "image".to_string() } else { label.trim().to_string() };
        Ok(UploadedImage { token, label })
    }

    /// Embeds an image file (the desktop app's drop gives paths). The file is read, not returned.
    pub fn image_from_path(&self, path: &Path) -> Result<UploadedImage, ApiError> {
        let meta = std::fs::metadata(path).map_err(|e| ApiError::bad_request(format!("{}: {e}", path.display())))?;
        if !meta.is_file() || meta.len() > MAX_UPLOAD_BYTES as u64 {
            return Err(ApiError::bad_request(format!("{} is not an image file this app can read", path.display())));
        }
        let bytes = std::fs::read(path).map_err(|e| ApiError::bad_request(format!("{}: {e}", path.display())))?;
        let label = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.upload_image(&bytes, &label)
    }
}
