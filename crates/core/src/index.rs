//! The vector index (usearch HNSW, cosine): a cache of the catalog's vectors for one model,
//! keyed by photo id. Saved atomically with a header that records what it matches; opened only
//! when that header agrees with the catalog, otherwise rebuilt from the catalog.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::catalog::{Catalog, CatalogError};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("vector index operation failed: {0}")]
    Usearch(String),
    #[error("cannot write the vector index {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the vector index path {0} is not valid UTF-8")]
    Path(PathBuf),
    #[error("vector of {got} dimensions for an index of {expected}")]
    Dims { got: usize, expected: usize },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl From<cxx::Exception> for IndexError {
    fn from(e: cxx::Exception) -> Self {
        IndexError::Usearch(e.what().to_string())
    }
}

/// How vectors are stored in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    #[default]
    F16,
    F32,
    I8,
}

impl Quantization {
    fn scalar(self) -> ScalarKind {
        match self {
            Quantization::F16 => ScalarKind::F16,
            Quantization::F32 => ScalarKind::F32,
            Quantization::I8 => ScalarKind::I8,
        }
    }
}

/// Written beside the index file: what the index was built from, checked at open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    model_id: String,
    dims: usize,
    quantization: Quantization,
    count: u64,
    generation: i64,
    file_bytes: u64,
    blake3: String,
}

/// Why an index was rebuilt instead of loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    Loaded,
    Rebuilt(String),
}

pub struct VectorIndex {
    inner: Index,
    path: PathBuf,
    model_id: String,
    dims: usize,
    quantization: Quantization,
}

/// A photo id and its cosine similarity to the query.
pub type Scored = (i64, f32);

impl VectorIndex {
    /// Opens the index for `model_id`, or rebuilds it from the catalog when it is missing,
    /// stale (another generation or count), made for another model or settings, or corrupt.
    pub fn open(
        path: &Path,
        model_id: &str,
        dims: usize,
        quantization: Quantization,
        catalog: &Catalog,
    ) -> Result<(Self, OpenOutcome), IndexError> {
        let mut index = Self::empty(path, model_id, dims, quantization)?;
        let expected_count = catalog.vector_count(model_id)?;
        let generation = catalog.generation()?;
        match index.try_load(expected_count, generation) {
            Ok(()) => Ok((index, OpenOutcome::Loaded)),
            Err(reason) => {
                tracing::info!("rebuilding vector index {} from the catalog: {reason}", path.display());
                index = Self::empty(path, model_id, dims, quantization)?;
                index.reserve(expected_count as usize)?;
                let mut failure = None;
                catalog.for_each_vector(model_id, |id, vector| {
                    if failure.is_none() {
                        failure = index.add(id, vector).err();
                    }
                })?;
                if let Some(err) = failure {
                    return Err(err);
                }
                Ok((index, OpenOutcome::Rebuilt(reason)))
            }
        }
    }

    fn empty(path: &Path, model_id: &str, dims: usize, quantization: Quantization) -> Result<Self, IndexError> {
        let options = IndexOptions {
            dimensions: dims,
            metric: MetricKind::Cos,
            quantization: quantization.scalar(),
            connectivity: 0,
            expansion_add: 0,
            expansion_search: 0,
            multi: false,
        };
        Ok(VectorIndex {
            inner: Index::new(&options)?,
            path: path.to_path_buf(),
            model_id: model_id.to_string(),
            dims,
            quantization,
        })
    }

    fn header_path(&self) -> PathBuf {
        self.path.with_extension("json")
    }

    fn try_load(&mut self, expected_count: u64, generation: i64) -> Result<(), String> {
        let bytes = fs::read(self.header_path()).map_err(|e| format!("no header ({e})"))?;
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| format!("unreadable header ({e})"))?;
        if header.model_id != self.model_id || header.dims != self.dims || header.quantization != self.quantization {
            return Err(format!(
                "made for {} ({} dims, {:?}), need {} ({} dims, {:?})",
                header.model_id, header.dims, header.quantization, self.model_id, self.dims, self.quantization
            ));
        }
        if header.generation != generation || header.count != expected_count {
            return Err(format!(
                "stale: generation {} with {} vectors, catalog has generation {generation} with {expected_count}",
                header.generation, header.count
            ));
        }
        // The checksum guards the native loader against a damaged file.
        let file = fs::read(&self.path).map_err(|e| format!("unreadable index file ({e})"))?;
        if file.len() as u64 != header.file_bytes || blake3::hash(&file).to_hex().as_str() != header.blake3 {
            return Err("index file does not match its checksum".into());
        }
        self.inner.load_from_buffer(&file).map_err(|e| format!("cannot load ({})", e.what()))?;
        if self.inner.size() as u64 != expected_count || self.inner.dimensions() != self.dims {
            return Err("loaded index disagrees with its header".into());
        }
        Ok(())
    }

    fn reserve(&self, extra: usize) -> Result<(), IndexError> {
        let needed = self.inner.size() + extra;
        if needed > self.inner.capacity() {
            self.inner.reserve(needed.max(self.inner.capacity() * 2).max(64))?;
        }
        Ok(())
    }

    /// Adds or replaces the vector of a photo.
    pub fn add(&mut self, id: i64, vector: &[f32]) -> Result<(), IndexError> {
        if vector.len() != self.dims {
            return Err(IndexError::Dims { got: vector.len(), expected: self.dims });
        }
        let key = id as u64;
        if self.inner.contains(key) {
            self.inner.remove(key)?;
        }
        self.reserve(1)?;
        self.inner.add(key, vector)?;
        Ok(())
    }

    /// Adds vectors for new, consecutive ids `first_id..` on `threads` threads (bulk loads).
    pub fn add_new_batch(&mut self, first_id: i64, vectors: &[f32], threads: usize) -> Result<(), IndexError> {
        let count = vectors.len() / self.dims;
        self.inner.reserve_capacity_and_threads(self.inner.size() + count, threads.max(1))?;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failure = std::sync::Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let vector = &vectors[i * self.dims..(i + 1) * self.dims];
                        if let Err(err) = self.inner.add((first_id + i as i64) as u64, vector) {
                            *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
                            break;
                        }
                    }
                });
            }
        });
        match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(err) => Err(err.into()),
            None => Ok(()),
        }
    }

    /// A stored vector (as the index keeps it, e.g. rounded to f16).
    pub fn get(&self, id: i64) -> Option<Vec<f32>> {
        let mut buffer = vec![0.0f32; self.dims];
        matches!(self.inner.get(id as u64, &mut buffer), Ok(1)).then_some(buffer)
    }

    pub fn remove(&mut self, id: i64) -> Result<(), IndexError> {
        self.inner.remove(id as u64)?;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.inner.size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, id: i64) -> bool {
        self.inner.contains(id as u64)
    }

    /// The `k` nearest photos, best first, optionally only among `allowed` ids.
    pub fn search(&self, query: &[f32], k: usize, allowed: Option<&HashSet<i64>>) -> Result<Vec<Scored>, IndexError> {
        if query.len() != self.dims {
            return Err(IndexError::Dims { got: query.len(), expected: self.dims });
        }
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let k = k.min(self.len());
        // A wide beam keeps recall near exact for the result counts a person looks at.
        self.inner.change_expansion_search((k * 2).max(128));
        let matches = match allowed {
            Some(allowed) => self.inner.filtered_search(query, k, |key| allowed.contains(&(key as i64)))?,
            None => self.inner.search(query, k)?,
        };
        Ok(matches.keys.iter().zip(&matches.distances).map(|(key, d)| (*key as i64, 1.0 - d)).collect())
    }

    /// Saves atomically (temp file, fsync, rename), then the header that vouches for it.
    pub fn save(&self, generation: i64) -> Result<(), IndexError> {
        let write_err = |source| IndexError::Write { path: self.path.clone(), source };
        let mut buffer = vec![0u8; self.inner.serialized_length()];
        self.inner.save_to_buffer(&mut buffer)?;
        crate::fsio::write_atomic(&self.path, &buffer).map_err(write_err)?;
        let header = Header {
            model_id: self.model_id.clone(),
            dims: self.dims,
            quantization: self.quantization,
            count: self.len() as u64,
            generation,
            file_bytes: buffer.len() as u64,
            blake3: blake3::hash(&buffer).to_hex().to_string(),
        };
        let json = serde_json::to_vec_pretty(&header).map_err(|e| write_err(io::Error::other(e)))?;
        crate::fsio::write_atomic(&self.header_path(), &json).map_err(write_err)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{FileFacts, Outcome};
    use crate::metadata::PhotoMeta;

    fn catalog_with_vectors(dir: &Path, vectors: &[[f32; 3]]) -> Catalog {
        let mut catalog = Catalog::open(&dir.join("c.sqlite")).unwrap();
        let folder = catalog.add_folder(Path::new("/p")).unwrap();
        let outcomes: Vec<_> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| Outcome::Indexed {
                file: FileFacts { folder_id: folder.id, path: format!("/p/{i}.jpg").into(), size: 1, mtime_ns: 1 },
                content_hash: [0; 32],
                meta: PhotoMeta::default(),
                vector: v.to_vec(),
            })
            .collect();
        catalog.write_batch("m", &outcomes).unwrap();
        catalog
    }

    #[test]
    fn corrupted_index_file_is_rebuilt_with_identical_results() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = catalog_with_vectors(dir.path(), &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.7, 0.7, 0.0]]);
        let path = dir.path().join("m.usearch");
        let (index, outcome) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        assert!(matches!(outcome, OpenOutcome::Rebuilt(_)));
        index.save(catalog.generation().unwrap()).unwrap();
        let before = index.search(&[1.0, 0.1, 0.0], 3, None).unwrap();

        let (_, outcome) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        assert_eq!(outcome, OpenOutcome::Loaded);

        let mut bytes = fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid..].iter_mut().for_each(|b| *b = 0xAB);
        fs::write(&path, bytes).unwrap();
        let (index, outcome) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        assert!(matches!(outcome, OpenOutcome::Rebuilt(ref r) if r.contains("checksum")), "{outcome:?}");
        assert_eq!(index.search(&[1.0, 0.1, 0.0], 3, None).unwrap(), before);
    }

    #[test]
    fn index_of_another_model_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = catalog_with_vectors(dir.path(), &[[1.0, 0.0, 0.0]]);
        let path = dir.path().join("m.usearch");
        let (index, _) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        index.save(catalog.generation().unwrap()).unwrap();
        let (index, outcome) = VectorIndex::open(&path, "other", 3, Quantization::F16, &catalog).unwrap();
        assert!(matches!(outcome, OpenOutcome::Rebuilt(ref r) if r.contains("made for m")), "{outcome:?}");
        assert!(index.is_empty(), "vectors of model m must not appear under another model");
    }

    #[test]
    fn filtered_search_returns_only_allowed_ids() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = catalog_with_vectors(dir.path(), &[[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 1.0, 0.0]]);
        let (index, _) = VectorIndex::open(&dir.path().join("m.usearch"), "m", 3, Quantization::F32, &catalog).unwrap();
        let allowed: HashSet<i64> = [3].into();
        let hits = index.search(&[1.0, 0.0, 0.0], 3, Some(&allowed)).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![3]);
    }
}
