//! Indexing: bring the catalog and the vector index in line with the photo folders. New and
//! changed files are read, decoded and encoded; unchanged ones (same size and time) are not
//! opened; deleted ones leave. A file that fails is recorded with its reason and the run goes on.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::{IndexSummary, PhotoStatus, Progress};
use crate::catalog::{Catalog, FileFacts, Folder, KnownFile, Outcome};
use crate::decode::{self, DecodeLimits, DecodeTarget};
use crate::encoder::{BatchEncoder, EncoderError, encode_in_batches};
use crate::index::VectorIndex;
use crate::library::thumbnail_file;
use crate::metadata::PhotoMeta;
use crate::models::ImageSpec;
use crate::scan::{self, Excludes, ScannedFile};

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
    prepare_bytes(bytes, spec, limits, thumbs_dir)
}

/// [`prepare`] for a file already in memory.
pub fn prepare_bytes(
    bytes: Vec<u8>,
    spec: &ImageSpec,
    limits: DecodeLimits,
    thumbs_dir: Option<&Path>,
) -> Result<Prepared, String> {
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
        format: Some(decoded.format.to_string()),
        taken_at: exif.taken_at,
        camera_make: exif.camera_make,
        camera_model: exif.camera_model,
        gps: exif.gps,
        orientation: exif.orientation,
    };
    Ok(Prepared { content_hash, meta, pixels })
}

/// [`prepare`] on its own thread, so that one hostile file costs that file and not the run:
/// a decoder that panics, or takes longer than `limits.max_time` (the thread is then left to
/// finish on its own and its result dropped), fails just that file.
pub fn prepare_with_time_limit(
    path: &Path,
    spec: &ImageSpec,
    limits: DecodeLimits,
    thumbs_dir: &Path,
) -> Result<Prepared, String> {
    let (tx, rx) = sync_channel(1);
    let (owned_path, spec, thumbs) = (path.to_path_buf(), spec.clone(), thumbs_dir.to_path_buf());
    let spawned = std::thread::Builder::new().name("decode".into()).spawn(move || {
        let result = prepare(&owned_path, &spec, limits, Some(&thumbs));
        if tx.send(result).is_err() {
            tracing::debug!("{} finished after its time limit; result dropped", owned_path.display());
        }
    });
    if let Err(err) = spawned {
        return Err(format!("cannot start a decode thread: {err}"));
    }
    match rx.recv_timeout(limits.max_time) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => {
            Err(format!("took longer than {} s to decode; skipped", limits.max_time.as_secs_f32()))
        }
        Err(RecvTimeoutError::Disconnected) => Err("the decoder crashed on this file".into()),
    }
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

/// Bytes hashed from each of the start, middle and end of a file.
const HASH_CHUNK: usize = 64 << 10;

/// BLAKE3 of the size and up to three 64 KiB samples (start, middle, end): identifies a file's
/// content cheaply, so a renamed file can be recognised without hashing all of it.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    let len = bytes.len();
    if len <= 3 * HASH_CHUNK {
        return sampled_hash(len as u64, &[bytes]);
    }
    let mid = len / 2 - HASH_CHUNK / 2;
    sampled_hash(len as u64, &[&bytes[..HASH_CHUNK], &bytes[mid..mid + HASH_CHUNK], &bytes[len - HASH_CHUNK..]])
}

/// [`content_hash`] of a file, reading only the sampled chunks.
pub fn file_content_hash(path: &Path) -> std::io::Result<[u8; 32]> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    if len <= 3 * HASH_CHUNK {
        let mut bytes = Vec::with_capacity(len);
        file.read_to_end(&mut bytes)?;
        return Ok(content_hash(&bytes));
    }
    let mut chunks = [vec![0u8; HASH_CHUNK], vec![0u8; HASH_CHUNK], vec![0u8; HASH_CHUNK]];
    for (chunk, offset) in chunks.iter_mut().zip([0, len / 2 - HASH_CHUNK / 2, len - HASH_CHUNK]) {
        file.seek(SeekFrom::Start(offset as u64))?;
        file.read_exact(chunk)?;
    }
    Ok(sampled_hash(len as u64, &[&chunks[0], &chunks[1], &chunks[2]]))
}

fn sampled_hash(len: u64, chunks: &[&[u8]]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&len.to_le_bytes());
    for chunk in chunks {
        hasher.update(chunk);
    }
    *hasher.finalize().as_bytes()
}

/// Pause, resume and cancel for a running job, from any thread.
#[derive(Debug, Default)]
pub struct JobControl {
    paused: AtomicBool,
    cancelled: AtomicBool,
}

impl JobControl {
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Stops the job after the batch being written; finished work is kept.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn wait_while_paused(&self) {
        while self.is_paused() && !self.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Everything one run needs.
pub struct IndexRun<'a> {
    pub catalog: &'a Mutex<Catalog>,
    pub index: &'a Mutex<VectorIndex>,
    /// One encoder per worker; each worker encodes its own batches.
    pub encoders: Vec<&'a (dyn BatchEncoder + Sync)>,
    pub spec: &'a ImageSpec,
    pub model_id: &'a str,
    pub batch_size: usize,
    /// Threads that only decode, feeding the workers; 0: each worker decodes its own batch.
    pub decode_threads: usize,
    pub limits: DecodeLimits,
    pub thumbs_dir: &'a Path,
    pub excludes: &'a Excludes,
    pub control: &'a JobControl,
}

type Work = (i64, ScannedFile);

/// What a scan found to do.
#[derive(Default)]
struct Plan {
    /// Files to read and encode.
    work: Vec<Work>,
    /// Of `work`, the indexes of files whose path the catalog does not know (maybe moved).
    new: Vec<usize>,
    /// Photos whose file is gone.
    gone: Vec<i64>,
    unchanged: u64,
    /// Every path already classified: watched paths overlap (a folder and a file inside it).
    seen: HashSet<PathBuf>,
}

impl Plan {
    /// Compares what is on disk (`files`) with what the catalog knows of the same place.
    fn classify(&mut self, folder_id: i64, files: Vec<ScannedFile>, known: &HashMap<PathBuf, KnownFile>) {
        let on_disk: HashSet<&PathBuf> = files.iter().map(|f| &f.path).collect();
        for (path, k) in known {
            if !on_disk.contains(path) && self.seen.insert(path.clone()) {
                self.gone.push(k.id);
            }
        }
        for file in files {
            if !self.seen.insert(file.path.clone()) {
                continue;
            }
            match known.get(&file.path) {
                Some(k)
                    if k.size == file.size
                        && k.mtime_ns == file.mtime_ns
                        && (k.status == PhotoStatus::Failed || k.has_vector) =>
                {
                    self.unchanged += 1
                }
                Some(_) => self.work.push((folder_id, file)),
                None => {
                    self.new.push(self.work.len());
                    self.work.push((folder_id, file));
                }
            }
        }
    }
}

impl IndexRun<'_> {
    /// Indexes the given folders. Returns the summary; `progress` sees every step.
    pub fn run(&self, folders: &[Folder], progress: &mut dyn FnMut(Progress)) -> Result<IndexSummary, IndexerError> {
        let plan = self.plan(folders, progress)?;
        self.execute(plan, progress)
    }

    /// Indexes just these paths of the given folders (from the watcher): files that appeared or
    /// changed, folders (scanned), and paths that disappeared.
    pub fn run_paths(
        &self,
        folders: &[Folder],
        paths: &[PathBuf],
        progress: &mut dyn FnMut(Progress),
    ) -> Result<IndexSummary, IndexerError> {
        let mut plan = Plan::default();
        for path in paths {
            let Some(folder) =
                folders.iter().filter(|f| path.starts_with(&f.path)).max_by_key(|f| f.path.as_os_str().len())
            else {
                continue;
            };
            if path != &folder.path && self.excludes.excludes_path(path, &folder.path) {
                continue;
            }
            let known = self.lock_catalog().known_files_under(folder.id, Some(path), self.model_id)?;
            let files = if path.is_dir() {
                let mut problems = Vec::new();
                match scan::scan(path, self.excludes, &mut problems) {
                    Ok(files) => files,
                    Err(err) => {
                        tracing::warn!("{err}");
                        continue;
                    }
                }
            } else {
                match std::fs::metadata(path) {
                    Ok(meta) if meta.is_file() && scan::is_photo_name(path) => {
                        vec![ScannedFile::new(path.clone(), &meta)]
                    }
                    _ => Vec::new(),
                }
            };
            plan.classify(folder.id, files, &known);
        }
        self.execute(plan, progress)
    }

    fn execute(&self, plan: Plan, progress: &mut dyn FnMut(Progress)) -> Result<IndexSummary, IndexerError> {
        let mut summary = IndexSummary { unchanged: plan.unchanged, ..Default::default() };
        let (work, later) = self.reuse_known_content(plan, &mut summary)?;
        progress(Progress::Planned { queued: (work.len() + later.len()) as u64, unchanged: summary.unchanged });

        let mut tracker = Tracker::new((work.len() + later.len()) as u64);
        let mut result = self.encode_all(&work, &mut summary, &mut tracker, progress);
        if result.is_ok() && !self.control.is_cancelled() {
            // Copies of files first seen in this run: their original is encoded now.
            let mut again = Vec::new();
            for (folder_id, file, hash) in later {
                let source = self.lock_catalog().indexed_with_hash(&hash, self.model_id)?;
                match source {
                    Some(source) => self.duplicate(source, &facts(folder_id, &file), &mut summary)?,
                    None => again.push((folder_id, file)),
                }
            }
            result = self.encode_all(&again, &mut summary, &mut tracker, progress);
        }
        // Whatever was committed is kept: save the index even when the run stops on an error.
        let saved = self.save();
        result?;
        saved?;
        if self.control.is_cancelled() {
            progress(Progress::Cancelled { summary });
        } else {
            progress(Progress::Finished { summary });
        }
        Ok(summary)
    }

    /// Scans every folder and compares with the catalog. Unreadable folders are marked offline
    /// and keep their photos.
    fn plan(&self, folders: &[Folder], progress: &mut dyn FnMut(Progress)) -> Result<Plan, IndexerError> {
        let mut plan = Plan::default();
        for folder in folders {
            progress(Progress::Scanning { folder: folder.path.clone() });
            let mut problems = Vec::new();
            let files = match scan::scan(&folder.path, self.excludes, &mut problems) {
                Ok(files) => files,
                Err(err) => {
                    let reason = std::error::Error::source(&err).map_or(err.to_string(), |s| s.to_string());
                    self.lock_catalog().set_offline(folder.id, true)?;
                    progress(Progress::FolderUnavailable { folder: folder.path.clone(), reason });
                    continue;
                }
            };
            if folder.offline {
                self.lock_catalog().set_offline(folder.id, false)?;
            }
            for problem in problems {
                tracing::warn!("skipped {}: {}", problem.path.display(), problem.message);
            }
            let known = self.lock_catalog().known_files(folder.id, self.model_id)?;
            plan.classify(folder.id, files, &known);
        }
        Ok(plan)
    }

    /// Moves and copies need no encoder: a new path whose content belongs to a photo that is
    /// gone is that photo moved; one whose content is already indexed is a duplicate. Deletes
    /// the photos left gone. Returns the files still to encode, and copies of files first seen
    /// in this run (done once their original is encoded).
    #[allow(clippy::type_complexity)]
    fn reuse_known_content(
        &self,
        plan: Plan,
        summary: &mut IndexSummary,
    ) -> Result<(Vec<Work>, Vec<(i64, ScannedFile, [u8; 32])>), IndexerError> {
        let mut gone_by_hash: HashMap<[u8; 32], Vec<i64>> = HashMap::new();
        for (id, hash) in self.lock_catalog().hashes(&plan.gone)? {
            gone_by_hash.entry(hash).or_default().push(id);
        }
        let mut moved: HashSet<i64> = HashSet::new();
        let mut handled = vec![false; plan.work.len()];
        let mut first_seen: HashSet<[u8; 32]> = HashSet::new();
        let mut later = Vec::new();
        for &i in &plan.new {
            let (folder_id, file) = &plan.work[i];
            let Ok(hash) = file_content_hash(&file.path) else { continue };
            if let Some(id) = gone_by_hash.get_mut(&hash).and_then(Vec::pop) {
                self.lock_catalog().move_photo(id, &facts(*folder_id, file))?;
                moved.insert(id);
                summary.moved += 1;
                handled[i] = true;
                continue;
            }
            let indexed = self.lock_catalog().indexed_with_hash(&hash, self.model_id)?;
            if let Some(source) = indexed {
                self.duplicate(source, &facts(*folder_id, file), summary)?;
                handled[i] = true;
            } else if !first_seen.insert(hash) {
                later.push((*folder_id, file.clone(), hash));
                handled[i] = true;
            }
        }
        let gone: Vec<i64> = plan.gone.into_iter().filter(|id| !moved.contains(id)).collect();
        self.remove(&gone)?;
        summary.removed += gone.len() as u64;
        let work = plan.work.into_iter().zip(handled).filter(|(_, h)| !h).map(|(w, _)| w).collect();
        Ok((work, later))
    }

    fn duplicate(&self, source: i64, file: &FileFacts, summary: &mut IndexSummary) -> Result<(), IndexerError> {
        let mut catalog = self.lock_catalog();
        let id = catalog.duplicate_photo(source, file)?;
        if let Some(vector) = catalog.vector(id, self.model_id)? {
            self.lock_index().add(id, &vector)?;
        }
        summary.duplicates += 1;
        Ok(())
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

    fn prepare_guarded(&self, file: &ScannedFile) -> Result<Prepared, String> {
        prepare_with_time_limit(&file.path, self.spec, self.limits, self.thumbs_dir)
    }

    /// The pipeline: decoders (optional) -> workers (gather a batch, encode it on their own
    /// session) -> this thread, which writes each batch in one transaction. Channels are bounded,
    /// so memory stays bounded whatever the folder size.
    fn encode_all(
        &self,
        work: &[Work],
        summary: &mut IndexSummary,
        tracker: &mut Tracker,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), IndexerError> {
        if work.is_empty() {
            return Ok(());
        }
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let batch = self.batch_size.max(1);
        let take = || {
            let i = next.fetch_add(1, Ordering::Relaxed);
            (i < work.len()).then_some(i)
        };
        std::thread::scope(|scope| {
            let (done_tx, done_rx) = sync_channel::<Result<Vec<Outcome>, IndexerError>>(self.encoders.len() * 2);
            let decoded = if self.decode_threads > 0 {
                let (tx, rx) = sync_channel::<(usize, Result<Prepared, String>)>(batch * 2);
                for _ in 0..self.decode_threads {
                    let tx = tx.clone();
                    let (take, stop) = (&take, &stop);
                    scope.spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            self.control.wait_while_paused();
                            let Some(i) = take() else { break };
                            if tx.send((i, self.prepare_guarded(&work[i].1))).is_err() {
                                break;
                            }
                        }
                    });
                }
                Some(Arc::new(Mutex::new(rx)))
            } else {
                None
            };
            for encoder in &self.encoders {
                let done_tx = done_tx.clone();
                let decoded = decoded.clone();
                let (take, stop, next) = (&take, &stop, &next);
                scope.spawn(move || {
                    while !stop.load(Ordering::Relaxed) && !self.control.is_cancelled() {
                        self.control.wait_while_paused();
                        // Near the end, share what is left evenly so no worker idles while
                        // another finishes a full batch.
                        let remaining = work.len().saturating_sub(next.load(Ordering::Relaxed));
                        let want = remaining.div_ceil(self.encoders.len()).clamp(1, batch);
                        let mut items = Vec::with_capacity(want);
                        while items.len() < want {
                            let item = match &decoded {
                                Some(rx) => rx.lock().unwrap_or_else(|p| p.into_inner()).recv().ok(),
                                None => take().map(|i| (i, self.prepare_guarded(&work[i].1))),
                            };
                            match item {
                                Some(item) => items.push(item),
                                None => break,
                            }
                        }
                        if items.is_empty() {
                            break;
                        }
                        let result = self.encode_batch(*encoder, work, items);
                        let failed = result.is_err();
                        if done_tx.send(result).is_err() || failed {
                            break;
                        }
                    }
                });
            }
            drop(done_tx);

            let mut last_save = Instant::now();
            let mut was_paused = false;
            let outcome = loop {
                let result = match done_rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(result) => result,
                    Err(RecvTimeoutError::Timeout) => {
                        if self.control.is_paused() != was_paused {
                            was_paused = !was_paused;
                            progress(Progress::Paused { paused: was_paused });
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break Ok(()),
                };
                let written = result.and_then(|outcomes| {
                    self.write(&outcomes)?;
                    for outcome in outcomes {
                        progress(tracker.record(outcome, summary));
                    }
                    if last_save.elapsed() > SAVE_EVERY {
                        self.save()?;
                        last_save = Instant::now();
                    }
                    Ok(())
                });
                if written.is_err() || self.control.is_cancelled() {
                    break written;
                }
            };
            // Unblocks every thread still sending, then the scope joins them.
            stop.store(true, Ordering::Relaxed);
            drop(done_rx);
            drop(decoded);
            outcome
        })
    }

    /// Encodes the decoded items of one batch; failed decodes become failures.
    fn encode_batch(
        &self,
        encoder: &(dyn BatchEncoder + Sync),
        work: &[Work],
        items: Vec<(usize, Result<Prepared, String>)>,
    ) -> Result<Vec<Outcome>, IndexerError> {
        let pixels: Vec<f32> =
            items.iter().filter_map(|(_, p)| p.as_ref().ok()).flat_map(|p| p.pixels.iter().copied()).collect();
        let (vectors, _) = encode_in_batches(encoder, &pixels, self.batch_size)?;
        let mut vectors = vectors.into_iter();
        let mut outcomes = Vec::with_capacity(items.len());
        for (i, prepared) in items {
            let (folder_id, scanned) = &work[i];
            let file = facts(*folder_id, scanned);
            outcomes.push(match prepared {
                Ok(p) => Outcome::Indexed {
                    file,
                    content_hash: p.content_hash,
                    meta: p.meta,
                    vector: vectors.next().ok_or(EncoderError::OutputShape {
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
        let catalog = self.lock_catalog();
        self.lock_index().save(catalog.generation()?)?;
        catalog.checkpoint()?;
        Ok(())
    }
}

fn facts(folder_id: i64, file: &ScannedFile) -> FileFacts {
    FileFacts { folder_id, path: file.path.clone(), size: file.size, mtime_ns: file.mtime_ns }
}

/// Counts, rate and ETA for progress events.
struct Tracker {
    queued: u64,
    done: u64,
    started: Instant,
}

impl Tracker {
    fn new(queued: u64) -> Self {
        Tracker { queued, done: 0, started: Instant::now() }
    }

    fn record(&mut self, outcome: Outcome, summary: &mut IndexSummary) -> Progress {
        self.done += 1;
        let (path, failed) = match outcome {
            Outcome::Indexed { file, .. } => {
                summary.indexed += 1;
                (file.path, None)
            }
            Outcome::Failed { file, reason } => {
                summary.failed += 1;
                (file.path, Some(reason))
            }
        };
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { self.done as f64 / elapsed } else { 0.0 };
        let eta_s = (rate > 0.0).then(|| (self.queued.saturating_sub(self.done) as f64 / rate).round() as u64);
        Progress::File { done: self.done, queued: self.queued, path, failed, rate, eta_s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> ScannedFile {
        ScannedFile { path: path.into(), size: 1, mtime_ns: 1 }
    }

    #[test]
    fn overlapping_watched_paths_plan_each_file_once() {
        let mut plan = Plan::default();
        let known = HashMap::new();
        // The watcher reported a new folder and a file inside it.
        plan.classify(1, vec![file("/p/trip/x.jpg"), file("/p/trip/y.jpg")], &known);
        plan.classify(1, vec![file("/p/trip/x.jpg")], &known);
        assert_eq!(plan.work.len(), 2);
        assert_eq!(plan.new, vec![0, 1]);
    }

    #[test]
    fn a_file_over_the_time_limit_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        image::RgbImage::new(2000, 2000).save(&path).unwrap();
        let spec = ImageSpec::clip(224);
        let quick = DecodeLimits { max_time: Duration::ZERO, ..Default::default() };
        let err = prepare_with_time_limit(&path, &spec, quick, dir.path()).err().unwrap();
        assert!(err.starts_with("took longer than"), "{err}");
        assert!(prepare_with_time_limit(&path, &spec, DecodeLimits::default(), dir.path()).is_ok());
    }

    #[test]
    fn sampled_hash_of_a_file_equals_the_hash_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for len in [10usize, 3 * HASH_CHUNK, 3 * HASH_CHUNK + 1, 1 << 20] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let path = dir.path().join(format!("{len}.bin"));
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(file_content_hash(&path).unwrap(), content_hash(&bytes), "length {len}");
        }
    }
}
