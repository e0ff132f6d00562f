//! The indexing pipeline: decoders (optional) feed workers that gather a batch and encode it
//! on their own session; this thread writes each batch in one transaction. Channels are
//! bounded, so memory stays bounded whatever the folder size.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::reuse::{KnownContent, Reuse};
use super::{IndexRun, IndexerError, Later, Tracker, Work, facts};
use crate::api::{IndexSummary, Progress};
use crate::catalog::{FileFailure, Outcome};
use crate::encoder::{BatchEncoder, EncoderError, encode_in_batches};
use crate::metadata::PhotoMeta;
use crate::prepare::{PrepareError, Prepared, prepare_with_time_limit};
use crate::scan::ScannedFile;

/// How much lower than the rest of the process indexing threads run (a nice value).
#[cfg(target_os = "linux")]
const INDEXING_NICE: i32 = 10;

/// Lowers the calling thread's priority, so that searches (and the rest of the machine) get
/// the CPU first while indexing keeps every core busy otherwise. Threads it starts (a decode
/// with a time limit) inherit it. Linux only; elsewhere indexing runs at normal priority.
fn yield_to_searches() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority takes plain integers; on Linux, PRIO_PROCESS with id 0 applies to
        // the calling thread only.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, INDEXING_NICE) };
        if result != 0 {
            tracing::debug!("cannot lower the indexing thread's priority: {}", std::io::Error::last_os_error());
        }
    }
}

/// One work item after a worker looked at it.
enum Prepped {
    /// Decoded for the encoder (or failed to be).
    Decoded(Result<Prepared, PrepareError>),
    /// Known content: no decoding, no encoding.
    Reused(Reuse),
    /// The catalog could not be asked: the run stops.
    Stop(IndexerError),
}

/// What a worker hands the writer for one batch.
struct Batch {
    outcomes: Vec<Outcome>,
    reused: Vec<(usize, Reuse)>,
}

impl IndexRun<'_> {
    fn prepare_guarded(&self, file: &ScannedFile) -> Result<Prepared, PrepareError> {
        prepare_with_time_limit(&file.path, self.spec, self.limits, self.thumbs_dir)
    }

    /// Work item `i`: its content looked up first (a new path's sampled hash), decoded when it
    /// is not known.
    fn look_then_prepare(&self, work: &[Work], i: usize, known: Option<&KnownContent>) -> Prepped {
        let file = &work[i].1;
        match known.map(|k| k.look_up(self, i, &file.path)) {
            Some(Err(err)) => Prepped::Stop(err),
            Some(Ok(Some(reuse))) => Prepped::Reused(reuse),
            Some(Ok(None)) | None => Prepped::Decoded(self.prepare_guarded(file)),
        }
    }

    /// Decodes and encodes `work` on the workers and writes each batch; new paths whose
    /// content is known (`known`) are moved or copied instead, and copies of files first seen
    /// in this run are added to `later`.
    pub(super) fn encode_all(
        &self,
        work: &[Work],
        known: Option<&KnownContent>,
        later: &mut Vec<Later>,
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
            let (done_tx, done_rx) = sync_channel::<Result<Batch, IndexerError>>(self.encoders.len() * 2);
            let decoded = if self.decode_threads > 0 {
                let (tx, rx) = sync_channel::<(usize, Prepped)>(batch * 2);
                for _ in 0..self.decode_threads {
                    let tx = tx.clone();
                    let (take, stop) = (&take, &stop);
                    scope.spawn(move || {
                        yield_to_searches();
                        while !stop.load(Ordering::Relaxed) {
                            self.control.wait_while_paused();
                            let Some(i) = take() else { break };
                            if tx.send((i, self.look_then_prepare(work, i, known))).is_err() {
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
                    yield_to_searches();
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
                                None => take().map(|i| (i, self.look_then_prepare(work, i, known))),
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

            let mut was_paused = false;
            let (stall_after, mut batches) = (stall_after_batches(), 0usize);
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
                let written = result.and_then(|batch| {
                    self.write(&batch.outcomes)?;
                    for outcome in batch.outcomes {
                        progress(tracker.record(outcome, summary));
                    }
                    for (i, reuse) in batch.reused {
                        if self.reuse(&work[i], reuse, summary, later)? {
                            tracker.skip();
                        }
                    }
                    if self.index.needs_save() {
                        self.save()?;
                    }
                    batches += 1;
                    if stall_after == Some(batches) {
                        stall(batches);
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

    /// Encodes the decoded items of one batch; failed decodes become failures. An encoder
    /// error other than running out of memory fails this batch's files (to be retried later),
    /// not the run, on a CPU; on a GPU it stops the run, which goes on on the CPU. A full disk
    /// stops it.
    fn encode_batch(
        &self,
        encoder: &(dyn BatchEncoder + Sync),
        work: &[Work],
        items: Vec<(usize, Prepped)>,
    ) -> Result<Batch, IndexerError> {
        let mut reused = Vec::new();
        let mut decoded = Vec::with_capacity(items.len());
        for (i, item) in items {
            match item {
                Prepped::Decoded(result) => decoded.push((i, result)),
                Prepped::Reused(reuse) => reused.push((i, reuse)),
                Prepped::Stop(err) => return Err(err),
            }
        }
        let items = decoded;
        let pixels: Vec<f32> =
            items.iter().filter_map(|(_, p)| p.as_ref().ok()).flat_map(|p| p.pixels.iter().copied()).collect();
        let mut vectors = match encode_in_batches(encoder, &pixels, self.batch_size) {
            Ok((vectors, _)) => Ok(vectors.into_iter()),
            Err(err @ EncoderError::OutOfMemory { .. }) => return Err(err.into()),
            Err(err) if self.on_gpu => return Err(IndexerError::GpuFailed(err)),
            Err(err) => {
                tracing::warn!("the encoder failed on a batch of {} file(s): {err}", items.len());
                Err(FileFailure::transient(format!("the model could not encode this photo: {err}")))
            }
        };
        let mut outcomes = Vec::with_capacity(items.len());
        for (i, prepared) in items {
            let (folder_id, scanned) = &work[i];
            let file = facts(*folder_id, scanned);
            outcomes.push(match (prepared, &mut vectors) {
                (Ok(p), Ok(vectors)) => {
                    let vector = vectors.next().ok_or(EncoderError::OutputShape {
                        role: "vision",
                        got: 0,
                        count: 1,
                        dims: 0,
                    })?;
                    // Named here, on the worker, not in the catalog's write transaction.
                    let place = p.meta.gps.and_then(|(lat, lon)| crate::places::place_of(lat, lon)).map(Box::new);
                    Outcome::Indexed { file, content_hash: p.content_hash, meta: PhotoMeta { place, ..p.meta }, vector }
                }
                (Ok(_), Err(failure)) => Outcome::Failed { file, failure: failure.clone() },
                (Err(PrepareError::File(failure)), _) => Outcome::Failed { file, failure },
                (Err(PrepareError::DiskFull { path, source }), _) => {
                    return Err(IndexerError::DiskFull { what: format!("cannot write {}: {source}", path.display()) });
                }
            });
        }
        Ok(Batch { outcomes, reused })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn indexing_threads_run_below_the_searching_ones() {
        let (before, after) = std::thread::spawn(|| {
            // SAFETY: getpriority takes plain integers; 0 is the calling thread on Linux.
            let get = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            let before = get();
            yield_to_searches();
            (before, get())
        })
        .join()
        .unwrap();
        assert_eq!(after, INDEXING_NICE, "{before} -> {after}");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, before, "other threads keep theirs");
    }
}

/// `PHOTO_SEARCH_STALL_AFTER_BATCHES=N` stops a run for good once its Nth batch is committed:
/// the crash test's way of killing indexing at a known point. Nothing else sets it.
fn stall_after_batches() -> Option<usize> {
    std::env::var("PHOTO_SEARCH_STALL_AFTER_BATCHES").ok()?.parse().ok()
}

fn stall(batches: usize) -> ! {
    eprintln!("stalled after {batches} batches");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
