//! Indexing: bring the catalog and the vector index in line with the photo folders. New and
//! changed files are read, decoded and encoded; unchanged ones (same size and time) are not
//! opened; deleted ones leave. A file that fails is recorded with its reason and the run goes on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::api::{IndexSummary, PhotoStatus, Progress};
use crate::catalog::{Catalog, FileFacts, Folder, Outcome};
use crate::decode::{self, DecodeLimits, DecodeTarget};
use crate::encoder::{BatchEncoder, EncoderError, encode_in_batches};
use crate::index::VectorIndex;
use crate::library::thumbnail_file;
use crate::metadata::PhotoMeta;
use crate::models::ImageSpec;
use crate::scan::{self, ScannedFile};

/// How often the vector index is saved during a long run.
const SAVE_EVERY: Duration = Duration::from_secs(60);

/// Largest file read into memory; anything bigger is not a photo worth the risk.
const MAX_FILE_BYTES: u64 = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error(transparent)]
    Encoder(#[from] EncoderError),
}

/// Everything one run needs.
pub struct IndexRun<'a> {
    pub catalog: &'a Mutex<Catalog>,
    pub index: &'a Mutex<VectorIndex>,
    pub encoder: &'a (dyn BatchEncoder + Sync),
    pub spec: &'a ImageSpec,
    pub model_id: &'a str,
    pub batch_size: usize,
    pub decode_threads: usize,
    pub limits: DecodeLimits,
    pub thumbs_dir: &'a Path,
}

/// A file read, hashed, decoded and preprocessed, ready for the encoder.
pub struct Prepared {
    pub content_hash: [u8; 32],
    pub meta: PhotoMeta,
    pub pixels: Vec<f32>,
}

/// Longer side of stored thumbnails, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;

/// Reads and decodes one file into the encoder's input; with `thumbs_dir`, the same decode
/// also writes the thumbnail (once per content). Errors are the reason shown to the user.
pub fn prepare(
    path: &Path,
    spec: &ImageSpec,
    limits: DecodeLimits,
    thumbs_dir: Option<&Path>,
) -> Result<Prepared, String> {
    let size = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?.len();
    if size > MAX_FILE_BYTES {
        return Err(format!("file too large ({size} bytes)"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let content_hash = content_hash(&bytes);
    let target = DecodeTarget { min_short_side: spec.size, min_long_side: THUMBNAIL_SIDE };
    let decoded = decode::decode_scaled(&bytes, limits, target).map_err(|e| e.to_string())?;
    drop(bytes);
    if let Some(dir) = thumbs_dir {
        write_thumbnail(&decoded.rgb, &thumbnail_file(dir, &content_hash));
    }
    let mut pixels = vec![0.0; 3 * spec.size as usize * spec.size as usize];
    decode::clip_tensor(&decoded.rgb, spec, &mut pixels).map_err(|e| e.to_string())?;
    let (width, height) = decoded.rgb.dimensions();
    let exif = decoded.exif;
    let meta = PhotoMeta {
        width: Some(width),
        height: Some(height),
        format: Some(decode::format_name(decoded.format).to_string()),
        taken_at: exif.taken_at,
        camera_make: exif.camera_make,
        camera_model: exif.camera_model,
        gps: exif.gps,
        orientation: exif.orientation,
    };
    Ok(Prepared { content_hash, meta, pixels })
}

/// A missing thumbnail is a cosmetic loss: it is logged, and the photo is still indexed.
fn write_thumbnail(rgb: &image::RgbImage, path: &Path) {
    if path.is_file() {
        return;
    }
    let result = decode::thumbnail_jpeg(rgb, THUMBNAIL_SIDE).map_err(std::io::Error::other).and_then(|jpeg| {
        path.parent().map_or(Ok(()), std::fs::create_dir_all)?;
        crate::fsio::write_atomic(path, &jpeg)
    });
    if let Err(err) = result {
        tracing::warn!("cannot write thumbnail {}: {err}", path.display());
    }
}

/// BLAKE3 of the size and up to three 64 KiB samples (start, middle, end): identifies a file's
/// content cheaply, so a renamed file can be recognised without hashing all of it.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    const CHUNK: usize = 64 << 10;
    let mut hasher = blake3::Hasher::new();
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    if bytes.len() <= 3 * CHUNK {
        hasher.update(bytes);
    } else {
        let mid = bytes.len() / 2 - CHUNK / 2;
        hasher.update(&bytes[..CHUNK]);
        hasher.update(&bytes[mid..mid + CHUNK]);
        hasher.update(&bytes[bytes.len() - CHUNK..]);
    }
    *hasher.finalize().as_bytes()
}

impl IndexRun<'_> {
    /// Indexes the given folders. Returns the summary; `progress` sees every step.
    pub fn run(&self, folders: &[Folder], progress: &mut dyn FnMut(Progress)) -> Result<IndexSummary, IndexerError> {
        let mut summary = IndexSummary::default();
        let mut work: Vec<(i64, ScannedFile)> = Vec::new();
        for folder in folders {
            progress(Progress::Scanning { folder: folder.path.clone() });
            let mut problems = Vec::new();
            let files = match scan::scan(&folder.path, &mut problems) {
                Ok(files) => files,
                Err(err) => {
                    // An unplugged drive must not erase its photos from the library.
                    let reason = std::error::Error::source(&err).map_or(err.to_string(), |s| s.to_string());
                    progress(Progress::FolderUnavailable { folder: folder.path.clone(), reason });
                    continue;
                }
            };
            for problem in problems {
                tracing::warn!("skipped {}: {}", problem.path.display(), problem.message);
            }
            let known = self.lock_catalog().known_files(folder.id, self.model_id)?;
            let seen: HashSet<&PathBuf> = files.iter().map(|f| &f.path).collect();
            let gone: Vec<i64> = known.iter().filter(|(p, _)| !seen.contains(p)).map(|(_, k)| k.id).collect();
            self.remove(&gone)?;
            summary.removed += gone.len() as u64;
            for file in files {
                let unchanged = known.get(&file.path).is_some_and(|k| {
                    k.size == file.size
                        && k.mtime_ns == file.mtime_ns
                        && (k.status == PhotoStatus::Failed || k.has_vector)
                });
                if unchanged {
                    summary.unchanged += 1;
                } else {
                    work.push((folder.id, file));
                }
            }
        }
        let queued = work.len() as u64;
        progress(Progress::Planned { queued, unchanged: summary.unchanged });

        let mut done = 0u64;
        let mut last_save = Instant::now();
        let result = (|| {
            for chunk in work.chunks(self.batch_size.max(1) * 4) {
                let outcomes = self.process(chunk)?;
                self.write(&outcomes)?;
                for outcome in &outcomes {
                    done += 1;
                    let (path, failed) = match outcome {
                        Outcome::Indexed { file, .. } => {
                            summary.indexed += 1;
                            (file.path.clone(), None)
                        }
                        Outcome::Failed { file, reason } => {
                            summary.failed += 1;
                            (file.path.clone(), Some(reason.clone()))
                        }
                    };
                    progress(Progress::File { done, queued, path, failed });
                }
                if last_save.elapsed() > SAVE_EVERY {
                    self.save()?;
                    last_save = Instant::now();
                }
            }
            Ok::<(), IndexerError>(())
        })();
        // Whatever was committed is kept: save the index even when the run stops on an error.
        let saved = self.save();
        result?;
        saved?;
        progress(Progress::Finished { summary });
        Ok(summary)
    }

    fn lock_catalog(&self) -> std::sync::MutexGuard<'_, Catalog> {
        self.catalog.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_index(&self) -> std::sync::MutexGuard<'_, VectorIndex> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remove(&self, ids: &[i64]) -> Result<(), IndexerError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.lock_catalog().delete_photos(ids)?;
        let mut index = self.lock_index();
        for id in ids {
            index.remove(*id)?;
        }
        Ok(())
    }

    /// Decodes a chunk on `decode_threads` threads, then encodes what decoded.
    fn process(&self, chunk: &[(i64, ScannedFile)]) -> Result<Vec<Outcome>, IndexerError> {
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Result<Prepared, String>>>> = chunk.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..self.decode_threads.clamp(1, chunk.len().max(1)) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((_, file)) = chunk.get(i) else { break };
                        // A decoder bug on one hostile file must cost that file, not the run.
                        let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            prepare(&file.path, self.spec, self.limits, Some(self.thumbs_dir))
                        }))
                        .unwrap_or_else(|_| Err("the decoder crashed on this file".into()));
                        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(prepared);
                    }
                });
            }
        });
        let prepared: Vec<Result<Prepared, String>> = slots
            .into_iter()
            .map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()).unwrap_or_else(|| Err("not processed".into())))
            .collect();

        let pixels: Vec<f32> =
            prepared.iter().filter_map(|p| p.as_ref().ok()).flat_map(|p| p.pixels.iter().copied()).collect();
        let (mut vectors, _) = encode_in_batches(self.encoder, &pixels, self.batch_size)?;
        vectors.reverse();
        let mut outcomes = Vec::with_capacity(chunk.len());
        for ((folder_id, scanned), prepared) in chunk.iter().zip(prepared) {
            let file = FileFacts {
                folder_id: *folder_id,
                path: scanned.path.clone(),
                size: scanned.size,
                mtime_ns: scanned.mtime_ns,
            };
            outcomes.push(match prepared {
                Ok(p) => Outcome::Indexed {
                    file,
                    content_hash: p.content_hash,
                    meta: p.meta,
                    vector: vectors.pop().ok_or(EncoderError::OutputShape {
                        role: "vision",
                        got: 0,
                        count: 1,
                        dims: 0,
                    })?,
                },
                Err(reason) => Outcome::Failed { file, reason },
            });
        }
        Ok(outcomes)
    }

    fn write(&self, outcomes: &[Outcome]) -> Result<(), IndexerError> {
        let ids = self.lock_catalog().write_batch(self.model_id, outcomes)?;
        let mut index = self.lock_index();
        for (id, outcome) in ids.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Indexed { vector, .. } => index.add(id, vector)?,
                Outcome::Failed { .. } => index.remove(id)?,
            }
        }
        Ok(())
    }

    fn save(&self) -> Result<(), IndexerError> {
        let generation = self.lock_catalog().generation()?;
        self.lock_index().save(generation)?;
        Ok(())
    }
}
