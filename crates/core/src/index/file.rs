//! The index's file: loaded only when its header vouches for it (model, settings, count,
//! checksum), saved atomically with that header when enough has changed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{IndexError, Quantization, RebuildReason, VectorIndex, lock};

impl VectorIndex {
    pub(super) fn header_path(&self) -> PathBuf {
        self.path.with_extension("json")
    }

    /// Loads the file; returns the log position it holds.
    pub(super) fn try_load(&self) -> Result<i64, RebuildReason> {
        let bytes = fs::read(self.header_path()).map_err(|e| RebuildReason::NoHeader(e.to_string()))?;
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| RebuildReason::BadHeader(e.to_string()))?;
        if header.model_id != self.model_id || header.dims != self.dims || header.quantization != self.quantization {
            return Err(RebuildReason::OtherModel {
                found: format!("{} ({} dims, {:?})", header.model_id, header.dims, header.quantization),
                need: format!("{} ({} dims, {:?})", self.model_id, self.dims, self.quantization),
            });
        }
        // The checksum guards the native loader against a damaged file.
        let started = Instant::now();
        let (file_bytes, checksum) = file_checksum(&self.path).map_err(|e| RebuildReason::Unreadable(e.to_string()))?;
        let checked = started.elapsed();
        if file_bytes != header.file_bytes || checksum != header.blake3 {
            return Err(RebuildReason::Checksum);
        }
        let path = self.path.to_str().ok_or(RebuildReason::NonUtf8Path)?;
        let inner = self.write();
        inner.load(path).map_err(|e| RebuildReason::Native(e.what().to_string()))?;
        if inner.size() as u64 != header.count || inner.dimensions() != self.dims {
            return Err(RebuildReason::HeaderMismatch);
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
}

/// Written beside the index file: what the index was built from, checked at open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Header {
    model_id: String,
    dims: usize,
    quantization: Quantization,
    count: u64,
    /// The catalog's change-log position the file holds.
    log_position: i64,
    file_bytes: u64,
    blake3: String,
}

/// A save is due after this many changes ...
pub(super) const SAVE_AFTER_CHANGES: u64 = 20_000;

/// ... or this long after the first unsaved change: a crash then costs a short replay, and a
/// large index is not rewritten every minute.
pub(super) const SAVE_AFTER: Duration = Duration::from_secs(600);

/// Size and BLAKE3 of a file, read in chunks hashed on every core (an index file can be a
/// gigabyte, and a restart waits for its checksum).
pub(super) fn file_checksum(path: &Path) -> io::Result<(u64, String)> {
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

pub(super) fn remove_quietly(path: &Path) {
    if let Err(err) = fs::remove_file(path) {
        tracing::debug!("cannot remove {}: {err}", path.display());
    }
}
