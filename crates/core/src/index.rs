//! The vector index (usearch HNSW, cosine): a cache of the catalog's vectors for one model,
//! keyed by photo id. Its file records the position in the catalog's change log that it holds;
//! opening it replays only the newer changes, and rebuilds from the catalog (in parallel) only
//! when the file is missing, damaged, or older than the log reaches back.
//!
//! Locking: searches and saves share a read lock (a save never blocks a search); adds and
//! removes take the write lock one vector at a time; a bulk load adds in parallel under the read
//! lock once capacity is reserved (usearch supports concurrent adds and searches then).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::catalog::{Catalog, CatalogError};

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

/// Written beside the index file: what the index was built from, checked at open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    model_id: String,
    dims: usize,
    quantization: Quantization,
    count: u64,
    /// The catalog's change-log position the file holds.
    log_position: i64,
    file_bytes: u64,
    blake3: String,
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
    Rebuilt(String),
}

/// A save is due after this many changes ...
const SAVE_AFTER_CHANGES: u64 = 20_000;
/// ... or this long after the first unsaved change: a crash then costs a short replay, and a
/// large index is not rewritten every minute.
const SAVE_AFTER: Duration = Duration::from_secs(600);
/// Vectors read from the catalog per parallel add during a rebuild.
const REBUILD_CHUNK: usize = 8192;

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
    saved_position: Mutex<Result<i64, String>>,
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
            saved_position: Mutex::new(Err("not loaded".into())),
            unsaved: AtomicU64::new(0),
            unsaved_since: Mutex::new(None),
            ready: (Mutex::new(false), Condvar::new()),
        })
    }

    fn header_path(&self) -> PathBuf {
        self.path.with_extension("json")
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the file; returns the log position it holds.
    fn try_load(&self) -> Result<i64, String> {
        let bytes = fs::read(self.header_path()).map_err(|e| format!("no header ({e})"))?;
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| format!("unreadable header ({e})"))?;
        if header.model_id != self.model_id || header.dims != self.dims || header.quantization != self.quantization {
            return Err(format!(
                "made for {} ({} dims, {:?}), need {} ({} dims, {:?})",
                header.model_id, header.dims, header.quantization, self.model_id, self.dims, self.quantization
            ));
        }
        // The checksum guards the native loader against a damaged file.
        let started = Instant::now();
        let (file_bytes, checksum) = file_checksum(&self.path).map_err(|e| format!("unreadable index file ({e})"))?;
        let checked = started.elapsed();
        if file_bytes != header.file_bytes || checksum != header.blake3 {
            return Err("index file does not match its checksum".into());
        }
        let path = self.path.to_str().ok_or("index path is not UTF-8")?;
        let inner = self.write();
        inner.load(path).map_err(|e| format!("cannot load ({})", e.what()))?;
        if inner.size() as u64 != header.count || inner.dimensions() != self.dims {
            return Err("loaded index disagrees with its header".into());
        }
        tracing::debug!(
            "loaded {} vectors from {} in {:.2} s (checksum {:.2} s)",
            header.count,
            self.path.display(),
            started.elapsed().as_secs_f64(),
            checked.as_secs_f64()
        );
        Ok(header.log_position)
    }

    /// Brings a loaded index up to date: replays the catalog's changes newer than the file, or
    /// rebuilds when the file was not usable, the log no longer reaches back to it, or the
    /// result disagrees with the catalog's count. Marks the index ready.
    pub fn catch_up(&self, catalog: &Catalog) -> Result<OpenOutcome, IndexError> {
        let result = self.catch_up_inner(catalog).and_then(|outcome| {
            // Room for as many photos again now, while nothing searches yet: growing the
            // capacity is the one change that waits for searches (128 ms at a million).
            self.make_room(self.len().max(1024))?;
            Ok(outcome)
        });
        self.set_ready();
        result
    }

    fn catch_up_inner(&self, catalog: &Catalog) -> Result<OpenOutcome, IndexError> {
        let saved = lock(&self.saved_position).clone();
        let reason = match saved {
            Err(reason) => reason,
            Ok(position) => match catalog.vector_changes(&self.model_id, position)? {
                None => format!("the change log no longer reaches back to position {position}"),
                Some(delta) => {
                    let replayed = delta.changes.len();
                    for (id, vector) in &delta.changes {
                        match vector {
                            Some(v) => self.add(*id, v)?,
                            None => self.remove(*id)?,
                        }
                    }
                    let expected = catalog.vector_count(&self.model_id)?;
                    if self.len() as u64 == expected {
                        if replayed > 0 {
                            tracing::info!("vector index {}: replayed {replayed} change(s)", self.path.display());
                        }
                        return Ok(OpenOutcome::Loaded { replayed });
                    }
                    format!("{} vectors after replay, the catalog has {expected}", self.len())
                }
            },
        };
        tracing::info!("rebuilding vector index {} from the catalog: {reason}", self.path.display());
        self.rebuild(catalog)?;
        Ok(OpenOutcome::Rebuilt(reason))
    }

    /// Replaces the contents with every vector of the catalog, added in parallel.
    fn rebuild(&self, catalog: &Catalog) -> Result<(), IndexError> {
        *self.write() = new_native(self.dims, self.quantization)?;
        *lock(&self.saved_position) = Err("rebuilt since".into());
        let expected = catalog.vector_count(&self.model_id)? as usize;
        reserve(&self.write(), expected)?;
        let mut keys = Vec::with_capacity(REBUILD_CHUNK);
        let mut vectors = Vec::with_capacity(REBUILD_CHUNK * self.dims);
        let mut failure = None;
        catalog.for_each_vector(&self.model_id, |id, vector| {
            if failure.is_some() {
                return;
            }
            if vector.len() != self.dims {
                failure = Some(IndexError::Dims { got: vector.len(), expected: self.dims });
                return;
            }
            keys.push(id);
            vectors.extend_from_slice(vector);
            if keys.len() == REBUILD_CHUNK {
                failure = self.add_parallel(&keys, &vectors).err();
                keys.clear();
                vectors.clear();
            }
        })?;
        if let Some(err) = failure {
            return Err(err);
        }
        self.add_parallel(&keys, &vectors)?;
        // Everything since the last save is unsaved now.
        self.note_changes(self.len() as u64);
        Ok(())
    }

    /// Adds new keys on a thread per core; capacity is reserved first (under the write lock),
    /// then adds share the read lock with searches.
    fn add_parallel(&self, keys: &[i64], vectors: &[f32]) -> Result<(), IndexError> {
        if keys.is_empty() {
            return Ok(());
        }
        let _modify = lock(&self.modify);
        self.make_room(keys.len())?;
        let inner = self.read();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failure = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..adding_threads() {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= keys.len() {
                            break;
                        }
                        let vector = &vectors[i * self.dims..(i + 1) * self.dims];
                        if let Err(err) = inner.add(keys[i] as u64, vector) {
                            *lock(&failure) = Some(err);
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

    /// Whether enough has changed since the last save (or for long enough) to save now.
    pub fn needs_save(&self) -> bool {
        let unsaved = self.unsaved.load(Ordering::Relaxed);
        let since = *lock(&self.unsaved_since);
        unsaved >= SAVE_AFTER_CHANGES || (unsaved > 0 && since.is_some_and(|t| t.elapsed() >= SAVE_AFTER))
    }

    /// Whether anything changed since the last save.
    pub fn has_unsaved_changes(&self) -> bool {
        self.unsaved.load(Ordering::Relaxed) > 0 || lock(&self.saved_position).is_err()
    }

    /// Saves atomically (temp file, fsync, rename), then the header that vouches for it, as
    /// holding the change-log position `log_position`. Shares the read lock with searches:
    /// only changes wait.
    pub fn save(&self, log_position: i64) -> Result<(), IndexError> {
        let write_err = |source| IndexError::Write { path: self.path.clone(), source };
        let tmp = crate::fsio::temp_sibling(&self.path);
        let tmp_str = tmp.to_str().ok_or_else(|| IndexError::Path(tmp.clone()))?;
        let (count, saved_changes) = {
            let _modify = lock(&self.modify);
            let inner = self.read();
            let saved_changes = self.unsaved.load(Ordering::Relaxed);
            if let Err(err) = inner.save(tmp_str) {
                drop(inner);
                remove_quietly(&tmp);
                // usearch reports I/O failures as a message: a full disk is told by its text.
                let message = err.what().to_string();
                let kind =
                    if message.contains("No space left") { io::ErrorKind::StorageFull } else { io::ErrorKind::Other };
                return Err(IndexError::Write { path: self.path.clone(), source: io::Error::new(kind, message) });
            }
            (inner.size() as u64, saved_changes)
        };
        let finish = || -> io::Result<()> {
            let (file_bytes, blake3) = file_checksum(&tmp)?;
            fs::File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            crate::fsio::sync_parent(&self.path)?;
            let header = Header {
                model_id: self.model_id.clone(),
                dims: self.dims,
                quantization: self.quantization,
                count,
                log_position,
                file_bytes,
                blake3,
            };
            let json = serde_json::to_vec_pretty(&header).map_err(io::Error::other)?;
            crate::fsio::write_atomic(&self.header_path(), &json)
        };
        if let Err(err) = finish() {
            remove_quietly(&tmp);
            return Err(write_err(err));
        }
        self.unsaved.fetch_sub(saved_changes.min(self.unsaved.load(Ordering::Relaxed)), Ordering::Relaxed);
        if self.unsaved.load(Ordering::Relaxed) == 0 {
            *lock(&self.unsaved_since) = None;
        }
        *lock(&self.saved_position) = Ok(log_position);
        Ok(())
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

/// Threads a bulk load adds on: one per core.
fn adding_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

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

/// Size and BLAKE3 of a file, read in chunks hashed on every core (an index file can be a
/// gigabyte, and a restart waits for its checksum).
fn file_checksum(path: &Path) -> io::Result<(u64, String)> {
    use std::io::Read;
    const CHUNK: u64 = 16 << 20;
    let mut hasher = blake3::Hasher::new();
    let mut file = fs::File::open(path)?;
    let mut chunk = Vec::with_capacity(CHUNK as usize);
    let mut bytes = 0u64;
    loop {
        chunk.clear();
        let read = (&mut file).take(CHUNK).read_to_end(&mut chunk)?;
        if read == 0 {
            break;
        }
        hasher.update_rayon(&chunk);
        bytes += read as u64;
    }
    Ok((bytes, hasher.finalize().to_hex().to_string()))
}

fn remove_quietly(path: &Path) {
    if let Err(err) = fs::remove_file(path) {
        tracing::debug!("cannot remove {}: {err}", path.display());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        assert!(matches!(outcome, OpenOutcome::Rebuilt(ref r) if r.contains("checksum")), "{outcome:?}");
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
        assert!(matches!(outcome, OpenOutcome::Rebuilt(ref r) if r.contains("no longer reaches")), "{outcome:?}");
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
