//! Bringing a loaded index up to date with the catalog: the newer changes of its log replayed,
//! or every vector added again (in parallel) when the file cannot be used.

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use super::{IndexError, OpenOutcome, RebuildReason, VectorIndex, lock, new_native, reserve};
use crate::catalog::Catalog;

impl VectorIndex {
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

    pub(super) fn catch_up_inner(&self, catalog: &Catalog) -> Result<OpenOutcome, IndexError> {
        let saved = lock(&self.saved_position).clone();
        let reason = match saved {
            Err(reason) => reason,
            Ok(position) => match catalog.vector_changes(&self.model_id, position)? {
                None => RebuildReason::LogPruned(position),
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
                    RebuildReason::CountMismatch { index: self.len(), catalog: expected }
                }
            },
        };
        tracing::info!("rebuilding vector index {} from the catalog: {reason}", self.path.display());
        self.rebuild(catalog)?;
        Ok(OpenOutcome::Rebuilt(reason))
    }

    /// Replaces the contents with every vector of the catalog, added in parallel.
    pub(super) fn rebuild(&self, catalog: &Catalog) -> Result<(), IndexError> {
        *self.write() = new_native(self.dims, self.quantization)?;
        *lock(&self.saved_position) = Err(RebuildReason::RebuiltSince);
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
    pub(super) fn add_parallel(&self, keys: &[i64], vectors: &[f32]) -> Result<(), IndexError> {
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
}

/// Vectors read from the catalog per parallel add during a rebuild.
pub(super) const REBUILD_CHUNK: usize = 8192;

/// Threads a bulk load adds on: one per core.
pub(super) fn adding_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
