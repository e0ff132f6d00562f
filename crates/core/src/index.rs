//! The vector index (usearch HNSW, cosine): a cache of the catalog's vectors for one model,
//! keyed by photo id. Its file records the position in the catalog's change log that it holds;
//! opening it replays only the newer changes, and rebuilds from the catalog (in parallel) only
//! when the file is missing, damaged, or older than the log reaches back.
//!
//! Locking: searches and saves share a read lock (a save never blocks a search); adds and
//! removes take the write lock one vector at a time; a bulk load adds in parallel under the read
//! lock once capacity is reserved (usearch supports concurrent adds and searches then).

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::catalog::{Catalog, CatalogError};

mod catch_up;
mod file;

use catch_up::adding_threads;

/// Every way the vector index can fail.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// usearch refused an operation; its exception is kept as the source.
    #[error("vector index operation failed: {0}")]
    Usearch(#[from] cxx::Exception),
    #[error("cannot start the thread that loads the vector index")]
    Thread(#[source] io::Error),
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

/// How vectors are stored in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// Half-precision floats: half the memory, the same ranking in practice (the default).
    #[default]
    F16,
    /// Single-precision floats.
    F32,
    /// 8-bit integers: a quarter of the memory, a little less exact.
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

/// How an index came to match the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    /// Loaded from its file, then `replayed` newer changes from the catalog's log.
    Loaded {
        /// Changes replayed from the log.
        replayed: usize,
    },
    /// Rebuilt from the catalog, and why.
    Rebuilt(RebuildReason),
}

/// Why an index was rebuilt from the catalog instead of loaded from its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildReason {
    /// Nothing was loaded yet.
    #[error("not loaded")]
    NotLoaded,
    /// The header file is missing or unreadable (what the system said).
    #[error("no header ({0})")]
    NoHeader(String),
    /// The header is not what this program writes.
    #[error("unreadable header ({0})")]
    BadHeader(String),
    /// The file was made for another model or other settings.
    #[error("made for {found}, need {need}")]
    OtherModel {
        /// The model, dimensions and quantization the file holds.
        found: String,
        /// What this run needs.
        need: String,
    },
    /// The index file cannot be read (what the system said).
    #[error("unreadable index file ({0})")]
    Unreadable(String),
    /// The file does not match the checksum its header vouches for.
    #[error("index file does not match its checksum")]
    Checksum,
    /// The file's path is not UTF-8 (the native loader takes text).
    #[error("index path is not UTF-8")]
    NonUtf8Path,
    /// usearch could not load the file (what it said).
    #[error("cannot load ({0})")]
    Native(String),
    /// The loaded index disagrees with its header (count or dimensions).
    #[error("loaded index disagrees with its header")]
    HeaderMismatch,
    /// The catalog's change log was pruned past the file's position.
    #[error("the change log no longer reaches back to position {0}")]
    LogPruned(i64),
    /// After the replay the index and the catalog count differently.
    #[error("{index} vectors after replay, the catalog has {catalog}")]
    CountMismatch {
        /// Vectors in the index.
        index: usize,
        /// Vectors in the catalog.
        catalog: u64,
    },
    /// The index was rebuilt since the file was saved.
    #[error("rebuilt since")]
    RebuiltSince,
}

/// A photo id and its cosine similarity to the query.
pub type Scored = (i64, f32);

/// The vector index of one model: usearch HNSW keyed by photo id, saved with a header that vouches for it.
pub struct VectorIndex {
    /// The native index does its own locking for adds, removes and searches running at once:
    /// they all share the read lock. The write lock is for replacing it or growing its capacity.
    inner: RwLock<Index>,
    /// One change at a time, and none while a save writes the file.
    modify: Mutex<()>,
    /// `expansion_search` is index-wide: one search at a time sets it and searches.
    search_gate: Mutex<()>,
    path: PathBuf,
    model_id: String,
    dims: usize,
    quantization: Quantization,
    /// The change-log position the file on disk holds, or why it holds nothing usable.
    saved_position: Mutex<Result<i64, RebuildReason>>,
    /// Changes applied since the last save, and since when.
    unsaved: AtomicU64,
    unsaved_since: Mutex<Option<Instant>>,
    /// False while a replay or rebuild fills the index in the background.
    ready: (Mutex<bool>, Condvar),
}

impl VectorIndex {
    /// Opens the index for `model_id` and brings it up to date with the catalog: the file plus
    /// the newer changes, or a rebuild when the file cannot be used.
    pub fn open(
        path: &Path,
        model_id: &str,
        dims: usize,
        quantization: Quantization,
        catalog: &Catalog,
    ) -> Result<(Self, OpenOutcome), IndexError> {
        let index = Self::load(path, model_id, dims, quantization)?;
        let outcome = index.catch_up(catalog)?;
        Ok((index, outcome))
    }

    /// Loads the file when its header agrees with this model and settings and its checksum
    /// holds; otherwise an empty index. Not ready until [`VectorIndex::catch_up`] has run.
    pub fn load(path: &Path, model_id: &str, dims: usize, quantization: Quantization) -> Result<Self, IndexError> {
        let index = Self::empty(path, model_id, dims, quantization)?;
        let loaded = index.try_load();
        if let Err(reason) = &loaded {
            tracing::info!("vector index {} not loaded: {reason}", path.display());
        }
        *lock(&index.saved_position) = loaded;
        Ok(index)
    }

    fn empty(path: &Path, model_id: &str, dims: usize, quantization: Quantization) -> Result<Self, IndexError> {
        Ok(VectorIndex {
            inner: RwLock::new(new_native(dims, quantization)?),
            search_gate: Mutex::new(()),
            modify: Mutex::new(()),
            path: path.to_path_buf(),
            model_id: model_id.to_string(),
            dims,
            quantization,
            saved_position: Mutex::new(Err(RebuildReason::NotLoaded)),
            unsaved: AtomicU64::new(0),
            unsaved_since: Mutex::new(None),
            ready: (Mutex::new(false), Condvar::new()),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn set_ready(&self) {
        let (flag, cvar) = &self.ready;
        *lock(flag) = true;
        cvar.notify_all();
    }

    /// Whether the index holds everything the catalog held when it was opened (a background
    /// replay or rebuild has finished). Searches before that answer from what it has.
    pub fn is_ready(&self) -> bool {
        *lock(&self.ready.0)
    }

    /// Waits for a background replay or rebuild to finish (writers must not race it).
    pub fn wait_ready(&self) {
        let (flag, cvar) = &self.ready;
        let mut ready = lock(flag);
        while !*ready {
            ready = cvar.wait(ready).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn note_changes(&self, n: u64) {
        if n == 0 {
            return;
        }
        self.unsaved.fetch_add(n, Ordering::Relaxed);
        lock(&self.unsaved_since).get_or_insert_with(Instant::now);
    }

    /// Adds or replaces the vector of a photo.
    pub fn add(&self, id: i64, vector: &[f32]) -> Result<(), IndexError> {
        if vector.len() != self.dims {
            return Err(IndexError::Dims { got: vector.len(), expected: self.dims });
        }
        let key = id as u64;
        let _modify = lock(&self.modify);
        self.make_room(1)?;
        let inner = self.read();
        if inner.contains(key) {
            inner.remove(key)?;
        }
        inner.add(key, vector)?;
        drop(inner);
        self.note_changes(1);
        Ok(())
    }

    /// Grows the capacity for `extra` more vectors when needed: the only change that waits for
    /// searches to finish (and rarely, as capacity doubles).
    fn make_room(&self, extra: usize) -> Result<(), IndexError> {
        let full = {
            let inner = self.read();
            inner.size() + extra > inner.capacity()
        };
        if full {
            reserve(&self.write(), extra)?;
        }
        Ok(())
    }

    /// A stored vector (as the index keeps it, e.g. rounded to f16).
    pub fn get(&self, id: i64) -> Option<Vec<f32>> {
        let mut buffer = vec![0.0f32; self.dims];
        matches!(self.read().get(id as u64, &mut buffer), Ok(1)).then_some(buffer)
    }

    /// Removes a photo's vector (nothing when it has none).
    pub fn remove(&self, id: i64) -> Result<(), IndexError> {
        let _modify = lock(&self.modify);
        let removed = self.read().remove(id as u64)?;
        self.note_changes(removed as u64);
        Ok(())
    }

    /// How many vectors it holds.
    pub fn len(&self) -> usize {
        self.read().size()
    }

    /// It holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it holds the vector of photo `id`.
    pub fn contains(&self, id: i64) -> bool {
        self.read().contains(id as u64)
    }

    /// The `k` nearest photos, best first (equal scores by photo id), optionally only among
    /// `allowed` ids.
    pub fn search(&self, query: &[f32], k: usize, allowed: Option<&HashSet<i64>>) -> Result<Vec<Scored>, IndexError> {
        if query.len() != self.dims {
            return Err(IndexError::Dims { got: query.len(), expected: self.dims });
        }
        let inner = self.read();
        let size = inner.size();
        if k == 0 || size == 0 {
            return Ok(Vec::new());
        }
        let k = k.min(size);
        let _gate = lock(&self.search_gate);
        // A wide beam keeps recall near exact for the result counts a person looks at.
        inner.change_expansion_search((k * 2).max(128));
        let matches = match allowed {
            Some(allowed) => inner.filtered_search(query, k, |key| allowed.contains(&(key as i64)))?,
            None => inner.search(query, k)?,
        };
        let mut scored: Vec<Scored> =
            matches.keys.iter().zip(&matches.distances).map(|(key, d)| (*key as i64, 1.0 - d)).collect();
        // Equal scores come back in an order that depends on how the graph was built (a parallel
        // rebuild inserts in another order): ties go by photo id, so results never change with it.
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(scored)
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model whose vectors it holds.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }
}

/// Searching threads the native index keeps contexts for, beside the adding ones.
const SEARCH_THREADS: usize = 4;

/// Makes room for `extra` more vectors (doubling, so single adds stay amortised), with thread
/// contexts for a bulk load's adders and concurrent searches. Needs the write lock.
fn reserve(inner: &Index, extra: usize) -> Result<(), IndexError> {
    let needed = inner.size() + extra;
    if needed > inner.capacity() {
        inner.reserve_capacity_and_threads(
            needed.max(inner.capacity() * 2).max(64),
            adding_threads() + SEARCH_THREADS,
        )?;
    }
    Ok(())
}

fn new_native(dims: usize, quantization: Quantization) -> Result<Index, IndexError> {
    let options = IndexOptions {
        dimensions: dims,
        metric: MetricKind::Cos,
        quantization: quantization.scalar(),
        connectivity: 0,
        expansion_add: 0,
        expansion_search: 0,
        multi: false,
    };
    Ok(Index::new(&options)?)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

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
    fn searches_run_beside_adds_removes_and_saves() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = catalog_with_vectors(dir.path(), &[[1.0, 0.0, 0.0]]);
        let (index, _) = VectorIndex::open(&dir.path().join("m.usearch"), "m", 3, Quantization::F16, &catalog).unwrap();
        // A change or a save in progress holds `modify`: a search must not wait for it.
        let held = lock(&index.modify);
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel();
            let index = &index;
            scope.spawn(move || tx.send(index.search(&[1.0, 0.0, 0.0], 1, None).map(|r| r.len())));
            let found = rx.recv_timeout(Duration::from_secs(10)).expect("the search waited for a change");
            assert_eq!(found.unwrap(), 1);
            drop(held);
        });
        // Thousands of adds and removes while another thread searches: every search answers,
        // and the index ends as the changes left it.
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let searcher = scope.spawn(|| {
                let mut searches = 0;
                while !done.load(Ordering::Relaxed) {
                    assert!(!index.search(&[0.5, 0.5, 0.1], 10, None).unwrap().is_empty());
                    searches += 1;
                }
                searches
            });
            for id in 2..3000i64 {
                let angle = id as f32 * 0.001;
                index.add(id, &[angle.cos(), angle.sin(), 0.2]).unwrap();
                if id % 3 == 0 {
                    index.remove(id - 1).unwrap();
                }
            }
            done.store(true, Ordering::Relaxed);
            assert!(searcher.join().unwrap() > 0);
        });
        assert_eq!(index.len(), 1 + 2998 - 999);
        assert!(index.contains(2999) && !index.contains(2) && index.contains(3));
    }

    #[test]
    fn corrupted_index_file_is_rebuilt_with_identical_results() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = catalog_with_vectors(dir.path(), &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.7, 0.7, 0.0]]);
        let path = dir.path().join("m.usearch");
        let (index, outcome) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        assert!(matches!(outcome, OpenOutcome::Rebuilt(_)));
        index.save(catalog.last_change().unwrap()).unwrap();
        let before = index.search(&[1.0, 0.1, 0.0], 3, None).unwrap();

        let (_, outcome) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        assert_eq!(outcome, OpenOutcome::Loaded { replayed: 0 });

        let mut bytes = fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid..].iter_mut().for_each(|b| *b = 0xAB);
        fs::write(&path, bytes).unwrap();
        let (index, outcome) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        assert_eq!(outcome, OpenOutcome::Rebuilt(RebuildReason::Checksum));
        assert_eq!(index.search(&[1.0, 0.1, 0.0], 3, None).unwrap(), before);
    }

    #[test]
    fn reopening_after_unsaved_changes_replays_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = catalog_with_vectors(dir.path(), &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.7, 0.7, 0.0]]);
        let path = dir.path().join("m.usearch");
        let (index, _) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        index.save(catalog.last_change().unwrap()).unwrap();
        // After the save: one photo added, one removed (a crash before the next save).
        let folder = catalog.folders().unwrap()[0].id;
        let added = catalog
            .write_batch(
                "m",
                &[Outcome::Indexed {
                    file: FileFacts { folder_id: folder, path: "/p/new.jpg".into(), size: 1, mtime_ns: 1 },
                    content_hash: [0; 32],
                    meta: PhotoMeta::default(),
                    vector: vec![0.0, 0.0, 1.0],
                }],
            )
            .unwrap()[0];
        catalog.delete_photos(&[1]).unwrap();
        drop(index);

        let (index, outcome) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        assert_eq!(outcome, OpenOutcome::Loaded { replayed: 2 });
        assert!(index.contains(added) && !index.contains(1));
        assert_eq!(index.search(&[0.0, 0.0, 1.0], 1, None).unwrap()[0].0, added);
        assert!(index.has_unsaved_changes());
    }

    #[test]
    fn an_index_older_than_the_change_log_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = catalog_with_vectors(dir.path(), &[[1.0, 0.0, 0.0]]);
        let path = dir.path().join("m.usearch");
        let (index, _) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        index.save(0).unwrap();
        catalog.prune_changes("m", catalog.last_change().unwrap()).unwrap();
        let (index, outcome) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        assert!(matches!(outcome, OpenOutcome::Rebuilt(RebuildReason::LogPruned(_))), "{outcome:?}");
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn index_of_another_model_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = catalog_with_vectors(dir.path(), &[[1.0, 0.0, 0.0]]);
        let path = dir.path().join("m.usearch");
        let (index, _) = VectorIndex::open(&path, "m", 3, Quantization::F16, &catalog).unwrap();
        index.save(catalog.last_change().unwrap()).unwrap();
        let (index, outcome) = VectorIndex::open(&path, "other", 3, Quantization::F16, &catalog).unwrap();
        assert!(
            matches!(outcome, OpenOutcome::Rebuilt(RebuildReason::OtherModel { ref found, .. }) if found.starts_with("m")),
            "{outcome:?}"
        );
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
