//! The background job: index every folder, then watch them, supervised (one at a time, panics
//! reported, restarted after a back-off).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use photo_search_core::api::Progress;
use photo_search_core::indexer::JobControl;

use crate::api::{ApiError, ErrorKind, IndexPhase, IndexingState};
use crate::{Job, RESTART_AFTER, RESTART_AFTER_MAX, Service, lock};

impl Service {
    /// (Re)starts indexing every folder and then watching them. The job lock is held from
    /// stopping the old job to recording the new one, so racing calls leave exactly one job.
    /// Without a usable model the job stops at once with the reason in the status; fetching the
    /// model restarts it. A job that fails or panics is reported and started again after a
    /// back-off.
    pub fn start_background(&self) {
        let mut job = lock(&self.shared.job);
        if let Some(old) = job.take() {
            old.control.cancel();
            if old.thread.join().is_err() {
                tracing::error!("the previous indexing job panicked while stopping");
            }
        }
        if self.shared.closed.load(Ordering::Relaxed) {
            return;
        }
        let control = Arc::new(JobControl::default());
        // A pause outlasts restarts (a folder added, settings changed) until resumed.
        let paused = lock(&self.shared.indexing).paused;
        if paused {
            control.pause();
        }
        let service = self.clone();
        let job_control = control.clone();
        *lock(&self.shared.indexing) = IndexingState { phase: IndexPhase::Scanning, paused, ..Default::default() };
        self.changed();
        self.shared.jobs_alive.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new().name("indexer".into()).spawn(move || service.supervise(&job_control));
        match spawned {
            Ok(thread) => *job = Some(Job { control, thread }),
            Err(err) => {
                self.shared.jobs_alive.fetch_sub(1, Ordering::SeqCst);
                let mut state = lock(&self.shared.indexing);
                state.phase = IndexPhase::Error;
                state.message = Some(format!("cannot start the indexer: {err}"));
            }
        }
    }

    /// The job thread's body; `jobs_alive` was counted up when it was spawned.
    fn supervise(&self, control: &JobControl) {
        self.supervise_until_cancelled(control);
        self.shared.jobs_alive.fetch_sub(1, Ordering::SeqCst);
    }

    /// Runs the background job until it is cancelled: watching ends only by cancel, so an error
    /// or a panic is shown in the status and the job runs again after a back-off (a full disk
    /// or an unplugged drive comes back by itself).
    fn supervise_until_cancelled(&self, control: &JobControl) {
        let mut backoff = RESTART_AFTER;
        loop {
            let Ok(engine) = self.engine() else { return };
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                engine.watch(control, &mut |p| self.on_progress(p))
            }));
            drop(engine);
            let message = match run {
                Ok(Ok(())) => return self.settle(IndexPhase::Idle, None),
                Ok(Err(err)) => {
                    let err = ApiError::from(err);
                    // Without a model nothing can be indexed yet: the window asks for one, and
                    // fetching it restarts this job.
                    if matches!(err.kind, ErrorKind::ModelMissing | ErrorKind::ModelInvalid | ErrorKind::RuntimeMissing)
                    {
                        return self.settle(IndexPhase::Idle, Some(err.message));
                    }
                    err.message
                }
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("unknown cause");
                    format!("the indexer crashed ({what}); restarting it")
                }
            };
            tracing::error!("indexing stopped: {message}; again in {}s", backoff.as_secs());
            self.settle(IndexPhase::Error, Some(message));
            let deadline = Instant::now() + backoff;
            while Instant::now() < deadline {
                if control.is_cancelled() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            backoff = (backoff * 2).min(RESTART_AFTER_MAX);
        }
    }

    /// The job stopped in `phase` (with why, if it says): progress is cleared, a pause stays.
    fn settle(&self, phase: IndexPhase, message: Option<String>) {
        {
            let mut state = lock(&self.shared.indexing);
            *state = IndexingState { phase, paused: state.paused, message, ..Default::default() };
        }
        self.changed();
    }

    /// How many background jobs are running: one while indexing or watching, else none.
    pub fn running_jobs(&self) -> usize {
        self.shared.jobs_alive.load(Ordering::SeqCst)
    }

    /// Stops the background job (what is finished is kept; the index is saved).
    pub fn stop_background(&self) {
        let job = lock(&self.shared.job).take();
        if let Some(job) = job {
            job.control.cancel();
            if job.thread.join().is_err() {
                tracing::error!("the indexing job panicked while stopping");
            }
        }
    }

    pub(crate) fn on_progress(&self, progress: Progress) {
        let finished = matches!(progress, Progress::Finished { .. });
        let mut state = lock(&self.shared.indexing);
        match progress {
            Progress::Scanning { folder } => {
                state.phase = IndexPhase::Scanning;
                state.current = Some(folder.display().to_string());
            }
            Progress::Planned { queued, .. } => {
                state.phase = if queued > 0 { IndexPhase::Indexing } else { IndexPhase::Watching };
                state.done = 0;
                state.queued = queued;
                state.current = None;
            }
            Progress::File { done, queued, path, rate, eta_s, .. } => {
                state.phase = IndexPhase::Indexing;
                (state.done, state.queued, state.rate, state.eta_s) = (done, queued, rate, eta_s);
                state.current = Some(path.display().to_string());
                self.shared.revision.fetch_add(1, Ordering::Relaxed);
            }
            Progress::Paused { paused } => state.paused = paused,
            Progress::Finished { summary } | Progress::Cancelled { summary } => {
                state.phase = IndexPhase::Watching;
                state.current = None;
                state.eta_s = None;
                if summary.removed + summary.moved + summary.duplicates > 0 {
                    self.shared.revision.fetch_add(1, Ordering::Relaxed);
                }
                if finished {
                    drop(state);
                    self.finish_switch();
                    return self.changed();
                }
            }
            Progress::FolderUnavailable { folder, reason } | Progress::Polling { folder, reason } => {
                state.message = Some(format!("{}: {reason}", folder.display()));
            }
        }
        drop(state);
        self.changed();
    }

    pub fn pause(&self) {
        if let Some(job) = lock(&self.shared.job).as_ref() {
            job.control.pause();
        }
        lock(&self.shared.indexing).paused = true;
        self.changed();
    }

    pub fn resume(&self) {
        if let Some(job) = lock(&self.shared.job).as_ref() {
            job.control.resume();
        }
        lock(&self.shared.indexing).paused = false;
        self.changed();
    }

    /// Closes the service: stops the background job and saves the index.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        self.stop_background();
        self.changed();
    }
}
