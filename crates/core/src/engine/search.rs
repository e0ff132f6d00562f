//! Search: query embeddings (text through a cache, image files, dropped images, library
//! photos), combined and looked up in the vector index, then filled in from the read connection.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::{Engine, Error, Result, lock};
use crate::api::SearchHit;
use crate::duplicates;
use crate::encoder::EncoderError;
use crate::index::VectorIndex;
use crate::query::{SearchQuery, Term};
use crate::relevance::{self, Cutoffs, QueryKind, Relevance};

impl Engine {
    /// Embeds a text query (through the chosen query encoder, else the model's own text tower),
    /// through a cache of recent queries.
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        if let Some(v) = lock(&self.text_cache).get(text) {
            return Ok(v.clone());
        }
        let vectors = self.cpu_if_the_gpu_fails(|| {
            Ok(match self.query_text_encoder()? {
                Some(encoder) => encoder.embed(&[text])?,
                None => self.encoders()?.text.embed(&[text])?,
            })
        })?;
        let vector = vectors.into_iter().next().ok_or(EncoderError::OutputShape {
            role: "text",
            got: 0,
            count: 1,
            dims: self.model.manifest.dims,
        })?;
        lock(&self.text_cache).put(text.to_string(), vector.clone());
        Ok(vector)
    }

    /// Embeds an image file (indexed or not).
    pub fn embed_image_file(&self, path: &Path) -> Result<Vec<f32>> {
        let prepared = crate::prepare::prepare(path, &self.model.manifest.image, self.options.limits, None);
        self.embed_prepared(prepared, path)
    }

    /// Embeds an image given as bytes (dropped, pasted or uploaded; not stored anywhere).
    pub fn embed_image_bytes(&self, bytes: &[u8]) -> Result<Vec<f32>> {
        let prepared =
            crate::prepare::prepare_bytes(bytes.to_vec(), &self.model.manifest.image, self.options.limits, None);
        self.embed_prepared(prepared, Path::new("(image)"))
    }

    /// Encodes one prepared query image; `label` names it in errors.
    fn embed_prepared(
        &self,
        prepared: Result<crate::prepare::Prepared, crate::prepare::PrepareError>,
        label: &Path,
    ) -> Result<Vec<f32>> {
        let prepared = prepared.map_err(|err| Error::QueryImage { path: label.into(), reason: err.to_string() })?;
        let mut vectors = self.cpu_if_the_gpu_fails(|| {
            Ok(crate::encoder::BatchEncoder::encode_batch(&self.encoders()?.image, &prepared.pixels)?)
        })?;
        vectors.pop().ok_or_else(|| Error::QueryImage { path: label.into(), reason: "no embedding".into() })
    }

    /// Runs a search: combines the terms' embeddings (weights, negatives), applies the filter,
    /// and returns photo ids and scores, best first (photos used as query terms are left out),
    /// with where its strong matches end, judged against the query's scores over a sample of the
    /// library ([`crate::relevance`]). [`Engine::hits`] fills in what a page shows.
    pub fn search_judged(&self, query: &SearchQuery) -> Result<(Vec<(i64, f32)>, Relevance)> {
        let started = std::time::Instant::now();
        let dims = self.model.manifest.dims;
        let mut combined = vec![0.0f32; dims];
        let mut exclude = HashSet::new();
        for term in &query.terms {
            let vector = match &term.term {
                Term::Text(text) => self.embed_text(text)?,
                Term::ImageFile(path) => self.embed_image_file(path)?,
                Term::Embedding(vector) if vector.len() == dims => vector.clone(),
                Term::Embedding(vector) => {
                    return Err(Error::Query(crate::query::QueryError::Dimensions {
                        got: vector.len(),
                        expected: dims,
                    }));
                }
                Term::Photo(id) => {
                    exclude.insert(*id);
                    self.reader().vector(*id, &self.model.manifest.id)?.ok_or(Error::UnknownPhoto(*id))?
                }
            };
            for (c, v) in combined.iter_mut().zip(vector) {
                *c += term.weight * v;
            }
        }
        let combined = crate::encoder::normalized(combined);
        let allowed = if query.filter.is_empty() {
            None
        } else {
            let mut ids: HashSet<i64> = self.reader().filter_ids(&query.filter)?.into_iter().collect();
            ids.retain(|id| !exclude.contains(id));
            Some(ids)
        };
        let embedded = started.elapsed();
        let index = self.vector_index()?;
        let scored = index.search(&combined, query.limit + exclude.len(), allowed.as_ref())?;
        tracing::debug!(
            "ranked {} in {:.1} ms: query embeddings and filter {:.1} ms, index {:.1} ms",
            query.limit,
            started.elapsed().as_secs_f64() * 1e3,
            embedded.as_secs_f64() * 1e3,
            (started.elapsed() - embedded).as_secs_f64() * 1e3
        );
        let ranked: Vec<(i64, f32)> =
            scored.into_iter().filter(|(id, _)| !exclude.contains(id)).take(query.limit).collect();
        let kind = if query.terms.iter().all(|t| matches!(t.term, Term::Text(_))) {
            QueryKind::Text
        } else {
            QueryKind::Image
        };
        let background = relevance::background_scores(&combined, &self.background_sample(&index)?);
        let scores: Vec<f32> = ranked.iter().map(|(_, s)| *s).collect();
        Ok((ranked, relevance::judge(&scores, &background, Cutoffs::of(kind))))
    }

    /// Groups of photos with the same bytes (confirmed by hashing each file whole).
    pub fn exact_duplicates(&self) -> Result<Vec<duplicates::Group>> {
        let candidates = self.reader().same_content_groups()?;
        Ok(duplicates::confirm_exact(candidates))
    }

    /// Groups of similar shots: every two photos of a group at least `threshold` similar
    /// (cosine), at most `max_size` photos each, largest groups first. Each photo's nearest
    /// neighbours in the index propose the pairs; `progress(done, total)` follows them.
    pub fn similar_groups(
        &self,
        threshold: f32,
        max_size: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<duplicates::Group>> {
        const NEIGHBOURS: usize = 8;
        let index = self.vector_index()?;
        index.wait_ready();
        let model = &self.model.manifest.id;
        let total = self.reader().vector_count(model)?;
        let mut pairs = Vec::new();
        let mut failed = None;
        let mut done = 0u64;
        self.reader().for_each_vector(model, |id, vector| {
            match index.search(vector, NEIGHBOURS + 1, None) {
                Ok(found) => pairs.extend(
                    found
                        .into_iter()
                        .filter(|(other, score)| *other != id && *score >= threshold)
                        .map(|(other, score)| (id.min(other), id.max(other), score)),
                ),
                Err(err) => failed = Some(err),
            }
            done += 1;
            if done.is_multiple_of(1000) || done == total {
                progress(done, total);
            }
        })?;
        if let Some(err) = failed {
            return Err(err.into());
        }
        pairs.sort_by_key(|p| (p.0, p.1));
        pairs.dedup_by(|a, b| (a.0, a.1) == (b.0, b.1));
        let mut vectors: HashMap<i64, Vec<f32>> = HashMap::new();
        for (a, b, _) in &pairs {
            for id in [a, b] {
                if !vectors.contains_key(id)
                    && let Some(v) = self.reader().vector(*id, model)?
                {
                    vectors.insert(*id, v);
                }
            }
        }
        let similarity = |a: i64, b: i64| match (vectors.get(&a), vectors.get(&b)) {
            (Some(x), Some(y)) => x.iter().zip(y).map(|(p, q)| p * q).sum(),
            _ => f32::MIN,
        };
        let groups = duplicates::complete_linkage(pairs, similarity, threshold, max_size);
        let ids: Vec<i64> = groups.iter().flatten().copied().collect();
        let paths = self.reader().paths_of(&ids)?;
        Ok(groups
            .into_iter()
            .map(|g| {
                g.into_iter().filter_map(|id| paths.get(&id).map(|p| (id, p.clone()))).collect::<duplicates::Group>()
            })
            .filter(|g| g.len() > 1)
            .collect())
    }

    /// Folds results into tiles of similar shots ([`duplicates::fold_similar`] at
    /// [`duplicates::FOLD_PRESET`]), comparing the vectors the index holds.
    pub fn fold_similar(
        &self,
        tiles: &mut Vec<duplicates::Tile>,
        open_from: usize,
        ranked: &[(i64, f32)],
        first_rank: usize,
    ) -> Result<()> {
        let index = self.vector_index()?;
        let threshold = duplicates::preset(duplicates::FOLD_PRESET).unwrap_or(1.0);
        duplicates::fold_similar(tiles, open_from, ranked, first_rank, |id| index.get(id), threshold);
        Ok(())
    }

    /// The places the library's photos were taken in (countries, regions, towns), with how many
    /// photos each, most first; kept until the library grows or shrinks.
    pub fn places(&self) -> Result<Arc<super::Places>> {
        let photos = self.reader().counts()?.indexed;
        let mut slot = lock(&self.places);
        // While indexing the count changes at every batch: counted again at most every 10 s.
        if let Some((counted_at, when, places)) = slot.as_ref()
            && (*counted_at == photos || when.elapsed() < std::time::Duration::from_secs(10))
        {
            return Ok(places.clone());
        }
        let places = Arc::new(self.reader().places()?);
        *slot = Some((photos, std::time::Instant::now(), places.clone()));
        Ok(places)
    }

    /// The names of [`Engine::places`], for understanding queries.
    pub fn place_names(&self) -> Result<Vec<String>> {
        Ok(self.places()?.iter().map(|(name, _)| name.clone()).collect())
    }

    /// A sample of the library's vectors that scores are judged against, drawn again when the
    /// library has grown or shrunk by a tenth since.
    fn background_sample(&self, index: &VectorIndex) -> Result<Arc<super::Sample>> {
        const SAMPLE: usize = 512;
        let size = index.len();
        let mut slot = lock(&self.background);
        if let Some((sampled_at, sample)) = slot.as_ref()
            && size.abs_diff(*sampled_at) * 10 <= *sampled_at
            && (*sampled_at >= SAMPLE || size == *sampled_at)
        {
            return Ok(sample.clone());
        }
        let sample = Arc::new(self.reader().sample_vectors(&self.model.manifest.id, SAMPLE)?);
        *slot = Some((size, sample.clone()));
        Ok(sample)
    }

    /// What results show of these photos, in one query, in the given order; photos no longer
    /// in the catalog are left out.
    pub fn hits(&self, ranked: &[(i64, f32)]) -> Result<Vec<SearchHit>> {
        let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
        let rows = self.reader().hit_rows(&ids)?;
        let thumbs = self.library.thumbs_dir();
        Ok(ranked
            .iter()
            .filter_map(|&(id, score)| {
                rows.get(&id).map(|row| SearchHit {
                    id,
                    path: row.path.clone(),
                    score,
                    taken_at: row.taken_at,
                    thumbnail: row.content_hash.map(|h| crate::library::thumbnail_file(&thumbs, &h)),
                })
            })
            .collect())
    }
}
