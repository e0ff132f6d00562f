//! The engine's indexing jobs: a full run, the watcher's paths, watching until cancelled, and
//! the workers and batch size they run with.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Engine, Error, Layout, Result, lock};
use crate::api::{IndexSummary, Progress};
use crate::encoder::{EncoderError, Encoders, ImageEncoder};
use crate::indexer::{IndexRun, IndexerError, JobControl};
use crate::watch::{Change, FolderWatcher};

/// Largest input tensor a tuned batch may have (on top of the model's own working memory).
const MAX_BATCH_INPUT_BYTES: usize = 256 << 20;

/// How often folders that were offline when watching started are looked at again.
const OFFLINE_RECHECK: Duration = Duration::from_secs(10);

/// Why watching stopped following the current watcher.
enum Followed {
    Cancelled,
    /// A folder that was offline is back: watch again, with it.
    FolderBack,
}

impl Engine {
    /// Adds `paths` as folders (if any), then indexes them, or every folder when none is given.
    pub fn index(&self, paths: &[PathBuf], progress: &mut dyn FnMut(Progress)) -> Result<IndexSummary> {
        self.index_with(paths, &JobControl::default(), progress)
    }

    /// [`Engine::index`] with pause, resume and cancel through `control`.
    pub fn index_with(
        &self,
        paths: &[PathBuf],
        control: &JobControl,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<IndexSummary> {
        self.require_write()?;
        let folders = if paths.is_empty() {
            self.folders()?
        } else {
            paths.iter().map(|p| self.add_folder(p)).collect::<Result<Vec<_>>>()?
        };
        self.run_job(control, |run| run.run(&folders, progress))
    }

    /// Indexes only these paths inside the library's folders: files that appeared or changed,
    /// folders to scan, paths that are gone.
    pub fn index_paths(
        &self,
        paths: &[PathBuf],
        control: &JobControl,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<IndexSummary> {
        self.require_write()?;
        let folders = self.folders()?;
        self.run_job(control, |run| run.run_paths(&folders, paths, progress))
    }

    /// Indexes every folder, then keeps watching them and indexes what changes, until `control`
    /// is cancelled; a clean stop saves the index. Watching starts before the first scan, so
    /// nothing that happens meanwhile is missed. A folder that is offline is looked at again
    /// every few seconds and watched once it is back.
    pub fn watch(&self, control: &JobControl, progress: &mut dyn FnMut(Progress)) -> Result<()> {
        self.require_write()?;
        let result = loop {
            let roots: Vec<PathBuf> = self.folders()?.into_iter().map(|f| f.path).collect();
            let (mut watcher, fallbacks) = FolderWatcher::new(&roots, self.excludes()?)?;
            for fallback in fallbacks {
                progress(Progress::Polling { folder: fallback.folder, reason: fallback.reason });
            }
            let offline: Vec<PathBuf> = roots.into_iter().filter(|r| std::fs::read_dir(r).is_err()).collect();
            match self.follow(&mut watcher, &offline, control, progress) {
                Ok(Followed::FolderBack) => continue,
                Ok(Followed::Cancelled) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        // A clean stop saves what the watcher added since the last save.
        let saved = self.save_index();
        result?;
        saved
    }

    /// The first full run, then the watcher's changes until cancelled or an offline folder is
    /// back.
    fn follow(
        &self,
        watcher: &mut FolderWatcher,
        offline: &[PathBuf],
        control: &JobControl,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Followed> {
        self.index_with(&[], control, progress)?;
        let mut last_check = Instant::now();
        while !control.is_cancelled() {
            if !offline.is_empty() && last_check.elapsed() >= OFFLINE_RECHECK {
                last_check = Instant::now();
                if let Some(back) = offline.iter().find(|r| std::fs::read_dir(r).is_ok()) {
                    tracing::info!("{} is back online", back.display());
                    return Ok(Followed::FolderBack);
                }
            }
            let changes = watcher.next(Duration::from_millis(500));
            if changes.is_empty() {
                if lock(&self.index).as_ref().is_some_and(|i| i.needs_save()) {
                    self.save_index()?;
                }
                continue;
            }
            tracing::debug!(
                "watched changes: {} ({:?} ...)",
                changes.len(),
                changes.iter().take(3).collect::<Vec<_>>()
            );
            let paths: Vec<PathBuf> = changes
                .into_iter()
                .map(|c| match c {
                    Change::Path(p) | Change::Rescan(p) => p,
                })
                .collect();
            self.index_paths(&paths, control, progress)?;
        }
        Ok(Followed::Cancelled)
    }

    /// The batch size for indexing: the configured one, else the one measured fastest for this
    /// model, provider and thread count within a memory cap (the smallest within 3% of the best:
    /// bigger batches only cost memory). Measured once per library and remembered.
    fn tuned_batch_size(&self, encoders: &Encoders, layout: Layout, workers: &[ImageEncoder]) -> Result<usize> {
        if let Some(batch) = self.options.encoder.batch_size {
            return Ok(batch.max(1));
        }
        let Some(worker) = workers.first() else { return Ok(encoders.batch_size) };
        let manifest = &self.model.manifest;
        let key = format!(
            "{}-{}-{}-{}x{}",
            manifest.id,
            encoders.precision,
            encoders.provider.name(),
            layout.workers,
            layout.threads
        );
        let path = self.library.cache_dir().join("batch-sizes.json");
        let mut known: std::collections::BTreeMap<String, usize> =
            std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        if let Some(batch) = known.get(&key) {
            return Ok(*batch);
        }
        let candidates = crate::encoder::batch_candidates(encoders.provider);
        let item_bytes = worker.item_len() * std::mem::size_of::<f32>();
        // Under a GPU memory cap, only batches whose input is at most an eighth of it are tried
        // (a vision transformer's activations take several times its input); the first that
        // runs out of memory ends the search.
        let cap = self.encoder_options(encoders.provider).gpu_memory_limit.map_or(MAX_BATCH_INPUT_BYTES, |limit| {
            MAX_BATCH_INPUT_BYTES.min(usize::try_from(limit / 8).unwrap_or(usize::MAX))
        });
        let mut rates = Vec::new();
        for &batch in candidates.iter().filter(|b| **b * item_bytes <= cap) {
            match crate::encoder::measure_rate(worker, batch, 2) {
                Ok(rate) => rates.push((batch, rate)),
                Err(EncoderError::OutOfMemory { .. }) => break,
                Err(err) => return Err(err.into()),
            }
        }
        let best = rates.iter().map(|(_, r)| *r).fold(0.0, f64::max);
        let chosen = rates.iter().find(|(_, r)| *r >= best * 0.97).map_or(encoders.batch_size, |(b, _)| *b);
        tracing::info!("batch size {chosen} for {key} (images/s by batch: {rates:?})");
        known.insert(key, chosen);
        let saved = serde_json::to_vec_pretty(&known)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::fsio::write_atomic(&path, &bytes));
        if let Err(err) = saved {
            tracing::warn!("cannot remember the batch size in {}: {err}", path.display());
        }
        Ok(chosen)
    }

    /// The indexing workers' vision sessions, made once and kept: a watcher indexes often.
    fn worker_encoders(&self, encoders: &Encoders, layout: Layout) -> Result<Arc<Vec<ImageEncoder>>> {
        let mut slot = lock(&self.workers);
        if let Some((made_for, workers)) = slot.as_ref()
            && *made_for == layout
        {
            return Ok(workers.clone());
        }
        let workers: Arc<Vec<ImageEncoder>> =
            Arc::new((0..layout.workers).map(|_| encoders.image_encoder(layout.threads)).collect::<Result<_, _>>()?);
        *slot = Some((layout, workers.clone()));
        Ok(workers)
    }

    /// Runs `job` with the encoders; when the GPU fails a batch, gives the GPU up and runs
    /// it again on the CPU (what was written stays; the rest is encoded there).
    fn run_job(
        &self,
        control: &JobControl,
        mut job: impl FnMut(&IndexRun<'_>) -> std::result::Result<IndexSummary, IndexerError>,
    ) -> Result<IndexSummary> {
        match self.run_job_once(control, &mut job) {
            // Out of memory even one photo at a time: the sessions' arenas are rebuilt once.
            Err(Error::Encoder(EncoderError::OutOfMemory { .. })) if self.encoders_on_gpu() => {
                tracing::warn!("the GPU ran out of memory at one photo a batch: rebuilding its sessions");
                *lock(&self.workers) = None;
                self.run_job_once(control, &mut job)
            }
            Err(Error::Encoder(err)) if self.encoders_on_gpu() => {
                self.fall_back_to_cpu(&err);
                self.run_job_once(control, &mut job)
            }
            other => other,
        }
    }

    fn encoders_on_gpu(&self) -> bool {
        lock(&self.encoders).as_ref().is_some_and(|e| e.provider.is_gpu())
    }

    fn run_job_once(
        &self,
        control: &JobControl,
        job: &mut dyn FnMut(&IndexRun<'_>) -> std::result::Result<IndexSummary, IndexerError>,
    ) -> Result<IndexSummary> {
        // The index first: a search after a restart waits for it (a second or two for a million
        // photos) and loads the encoders itself meanwhile.
        let index = self.vector_index()?;
        let encoders = self.encoders()?;
        // Writes must not race a replay or rebuild still running.
        index.wait_ready();
        let layout = self.options.layout(encoders.provider);
        tracing::info!(
            "indexing with {} worker(s) x {} thread(s), {} decode thread(s), batch {}",
            layout.workers,
            layout.threads,
            layout.decode_threads,
            encoders.batch_size
        );
        let workers = self.worker_encoders(&encoders, layout)?;
        let batch_size = self.tuned_batch_size(&encoders, layout, &workers)?;
        let thumbs_dir = self.library.thumbs_dir();
        let excludes = self.excludes()?;
        let run = IndexRun {
            catalog: &self.catalog,
            index: &index,
            encoders: workers.iter().map(|w| w as &(dyn crate::encoder::BatchEncoder + Sync)).collect(),
            spec: &self.model.manifest.image,
            model_id: &self.model.manifest.id,
            batch_size,
            on_gpu: encoders.provider.is_gpu(),
            decode_threads: layout.decode_threads,
            limits: self.options.limits,
            thumbs_dir: &thumbs_dir,
            excludes: &excludes,
            control,
        };
        Ok(job(&run)?)
    }
}
