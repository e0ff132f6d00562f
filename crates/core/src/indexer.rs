//! Indexing: bring the catalog and the vector index in line with the photo folders. New and
//! changed files are read, decoded and encoded; unchanged ones (same size and time) are not
//! opened; deleted ones leave. A file that fails is recorded with its reason and the run goes
//! on; a full disk stops the run with nothing committed lost.
//!
//! [`plan`] compares what is on disk with the catalog; the [`pipeline`]'s workers look each new
//! file's content up ([`reuse`]: moves and copies need no encoder) and decode and encode the rest.

mod pipeline;
mod plan;
mod reuse;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::api::{IndexSummary, Progress};
use crate::catalog::{Catalog, CatalogError, FileFacts, Folder, Outcome};
use crate::decode::DecodeLimits;
use crate::encoder::{BatchEncoder, EncoderError};
use crate::index::{IndexError, VectorIndex};
use crate::models::ImageSpec;
use crate::prepare::is_disk_full;
use crate::scan::{Excludes, ScannedFile};

use plan::Plan;
use reuse::{KnownContent, Reuse};

/// What stops an indexing run (a failing file does not).
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexerError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error("the GPU failed a batch")]
    GpuFailed(#[source] EncoderError),
    #[error(
        "the disk is full ({what}): indexing stopped, nothing indexed so far is lost, and it goes on once there is space"
    )]
    DiskFull { what: String },
}

impl IndexerError {
    /// The same error, told as a full disk when that is what it is (SQLite, the index file or a
    /// thumbnail ran out of space).
    pub(crate) fn or_disk_full(self) -> Self {
        let full = match &self {
            IndexerError::Catalog(CatalogError::DiskFull(_)) => true,
            IndexerError::Index(IndexError::Write { source, .. }) => is_disk_full(source),
            _ => false,
        };
        if full { IndexerError::DiskFull { what: self.to_string() } } else { self }
    }
}

/// Pause, resume and cancel for a running job, from any thread.
#[derive(Debug, Default)]
pub struct JobControl {
    paused: AtomicBool,
    cancelled: AtomicBool,
}

impl JobControl {
    /// Pauses the job after the files in flight.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Resumes a paused job.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Stops the job after the batch being written; finished work is kept.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Whether the job is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Whether the job was cancelled.
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
    /// The catalog (the writer's connection).
    pub catalog: &'a Mutex<Catalog>,
    /// The model's vector index.
    pub index: &'a VectorIndex,
    /// One encoder per worker; each worker encodes its own batches.
    pub encoders: Vec<&'a (dyn BatchEncoder + Sync)>,
    /// How images are prepared for the model.
    pub spec: &'a ImageSpec,
    /// The model whose vectors are written.
    pub model_id: &'a str,
    /// Images per encoder batch.
    pub batch_size: usize,
    /// Whether the encoders run on a GPU: a batch the GPU fails for any reason but memory then
    /// stops the run, so that the engine reopens the encoders on the CPU and runs it again.
    pub on_gpu: bool,
    /// Threads that only decode, feeding the workers; 0: each worker decodes its own batch.
    pub decode_threads: usize,
    /// Pixel and memory limits of decoding.
    pub limits: DecodeLimits,
    /// Where thumbnails are written.
    pub thumbs_dir: &'a Path,
    /// What is skipped.
    pub excludes: &'a Excludes,
    /// Pause, resume and cancel.
    pub control: &'a JobControl,
}

type Work = (i64, ScannedFile);

/// A copy of a file first seen in the same run (folder id, file, content hash): done once that
/// file is encoded.
type Later = (i64, ScannedFile, [u8; 32]);

/// When the index is saved at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SaveAtEnd {
    /// Whenever anything changed (a full run).
    IfChanged,
    /// Only when enough changed or long enough ago (a watcher's small runs): the catalog's
    /// change log covers the rest after a crash.
    IfDue,
}

impl IndexRun<'_> {
    /// Indexes the given folders. Returns the summary; `progress` sees every step.
    pub fn run(&self, folders: &[Folder], progress: &mut dyn FnMut(Progress)) -> Result<IndexSummary, IndexerError> {
        let plan = self.plan(folders, progress)?;
        self.execute(plan, SaveAtEnd::IfChanged, progress)
    }

    /// Indexes just these paths of the given folders (from the watcher): files that appeared or
    /// changed, folders (scanned), and paths that disappeared. The catalog is asked once per
    /// path, through the path index, under one lock.
    pub fn run_paths(
        &self,
        folders: &[Folder],
        paths: &[PathBuf],
        progress: &mut dyn FnMut(Progress),
    ) -> Result<IndexSummary, IndexerError> {
        let plan = self.plan_paths(folders, paths)?;
        self.execute(plan, SaveAtEnd::IfDue, progress)
    }

    fn execute(
        &self,
        plan: Plan,
        save: SaveAtEnd,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<IndexSummary, IndexerError> {
        let result = self.execute_plan(plan, progress);
        // Whatever was committed is kept: save the index even when the run stops on an error.
        let due = match save {
            SaveAtEnd::IfChanged => self.index.has_unsaved_changes(),
            SaveAtEnd::IfDue => self.index.needs_save(),
        };
        let saved = if due { self.save() } else { Ok(()) };
        let summary = result.map_err(IndexerError::or_disk_full)?;
        saved.map_err(IndexerError::or_disk_full)?;
        if self.control.is_cancelled() {
            progress(Progress::Cancelled { summary });
        } else {
            progress(Progress::Finished { summary });
        }
        Ok(summary)
    }

    fn execute_plan(&self, plan: Plan, progress: &mut dyn FnMut(Progress)) -> Result<IndexSummary, IndexerError> {
        let mut summary = IndexSummary { unchanged: plan.unchanged, ..Default::default() };
        let known = KnownContent::new(self, &plan.gone, &plan.new, plan.work.len())?;
        progress(Progress::Planned { queued: plan.work.len() as u64, unchanged: summary.unchanged });

        let mut tracker = Tracker::new(plan.work.len() as u64);
        let mut later = Vec::new();
        self.encode_all(&plan.work, Some(&known), &mut later, &mut summary, &mut tracker, progress)?;
        if !self.control.is_cancelled() {
            // Every new path has been looked at: the gone photos none of them turned out to be
            // leave. (A run that stops before leaves them for the next run to decide.)
            let gone = known.still_gone(plan.gone);
            self.remove(&gone)?;
            summary.removed += gone.len() as u64;
            // Copies of files first seen in this run: their original is encoded now.
            let mut again = Vec::new();
            for (folder_id, file, hash) in later {
                let source = self.lock_catalog().indexed_with_hash(&hash, self.model_id)?;
                match source {
                    Some(source) => {
                        self.duplicate(source, &facts(folder_id, &file), &mut summary)?;
                        tracker.skip();
                    }
                    None => again.push((folder_id, file)),
                }
            }
            self.encode_all(&again, None, &mut Vec::new(), &mut summary, &mut tracker, progress)?;
        }
        Ok(summary)
    }

    /// Applies what a worker found a new file to be: a moved photo keeps its vector, a copy
    /// gets its original's; a copy of a file first seen in this run waits in `later`. Returns
    /// whether the file is done.
    fn reuse(
        &self,
        (folder_id, file): &Work,
        reuse: Reuse,
        summary: &mut IndexSummary,
        later: &mut Vec<Later>,
    ) -> Result<bool, IndexerError> {
        match reuse {
            Reuse::Moved(id) => {
                self.lock_catalog().move_photo(id, &facts(*folder_id, file))?;
                summary.moved += 1;
            }
            Reuse::Copy(source) => self.duplicate(source, &facts(*folder_id, file), summary)?,
            Reuse::Later(hash) => {
                later.push((*folder_id, file.clone(), hash));
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn duplicate(&self, source: i64, file: &FileFacts, summary: &mut IndexSummary) -> Result<(), IndexerError> {
        let vector = {
            let mut catalog = self.lock_catalog();
            let id = catalog.duplicate_photo(source, file)?;
            catalog.vector(id, self.model_id)?.map(|v| (id, v))
        };
        if let Some((id, vector)) = vector {
            self.index.add(id, &vector)?;
        }
        summary.duplicates += 1;
        Ok(())
    }

    fn lock_catalog(&self) -> std::sync::MutexGuard<'_, Catalog> {
        self.catalog.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remove(&self, ids: &[i64]) -> Result<(), IndexerError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.lock_catalog().delete_photos(ids)?;
        for id in ids {
            self.index.remove(*id)?;
        }
        Ok(())
    }

    /// Writes one batch: the catalog first (one transaction), then the index.
    fn write(&self, outcomes: &[Outcome]) -> Result<(), IndexerError> {
        let ids = self.lock_catalog().write_batch(self.model_id, outcomes)?;
        for (id, outcome) in ids.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Indexed { vector, .. } => self.index.add(id, vector)?,
                Outcome::Failed { .. } => self.index.remove(id)?,
            }
        }
        Ok(())
    }

    fn save(&self) -> Result<(), IndexerError> {
        save_index(self.catalog, self.index, self.model_id)
    }
}

/// Saves the index as holding everything the catalog has logged, then prunes the log up to
/// there. The caller is the library's only writer, so every logged change is in the index.
/// The file is written with no catalog lock held, and searches go on meanwhile.
pub(crate) fn save_index(catalog: &Mutex<Catalog>, index: &VectorIndex, model_id: &str) -> Result<(), IndexerError> {
    let lock = || catalog.lock().unwrap_or_else(|p| p.into_inner());
    let position = lock().last_change()?;
    let started = Instant::now();
    index.save(position)?;
    tracing::debug!("saved vector index ({} vectors) in {:?}", index.len(), started.elapsed());
    let catalog = lock();
    catalog.prune_changes(model_id, position)?;
    catalog.checkpoint()?;
    Ok(())
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

    /// A file done without encoding (moved, or a copy).
    fn skip(&mut self) {
        self.done += 1;
    }

    fn record(&mut self, outcome: Outcome, summary: &mut IndexSummary) -> Progress {
        self.done += 1;
        let (path, failed) = match outcome {
            Outcome::Indexed { file, .. } => {
                summary.indexed += 1;
                (file.path, None)
            }
            Outcome::Failed { file, failure } => {
                summary.failed += 1;
                (file.path, Some(failure.reason))
            }
        };
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { self.done as f64 / elapsed } else { 0.0 };
        let eta_s = (rate > 0.0).then(|| (self.queued.saturating_sub(self.done) as f64 / rate).round() as u64);
        Progress::File { done: self.done, queued: self.queued, path, failed, rate, eta_s }
    }
}
