//! Downloading the model in the background, with progress in the status and cancel.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::api::{ApiError, DownloadPhase, DownloadState, ErrorKind};
use crate::{Service, lock};

impl Service {
    /// Marks the download `state` as running, unless one already is (then `false`).
    pub(crate) fn begin_download(&self, state: &Mutex<DownloadState>, cancel: &AtomicBool) -> bool {
        {
            let mut download = lock(state);
            if download.phase == DownloadPhase::Running {
                return false;
            }
            *download = DownloadState { phase: DownloadPhase::Running, ..Default::default() };
        }
        cancel.store(false, Ordering::Relaxed);
        self.changed();
        true
    }

    /// Records a download's progress (the status moves at each file and each MB); returns
    /// whether to go on.
    pub(crate) fn download_progress(
        &self,
        (state, cancel): (&Mutex<DownloadState>, &AtomicBool),
        file: String,
        done: u64,
        total: Option<u64>,
    ) -> bool {
        let mut d = lock(state);
        let tick = d.file.as_deref() != Some(file.as_str()) || done >= d.received + (1 << 20);
        (d.file, d.received, d.total) = (Some(file), done, total);
        drop(d);
        if tick {
            self.changed();
        }
        !cancel.load(Ordering::Relaxed)
    }

    /// Downloads the model in the background (progress in the status); the background job
    /// restarts when it is done.
    pub fn fetch_model(&self) -> Result<(), ApiError> {
        if !self.begin_download(&self.shared.download, &self.shared.download_cancel) {
            return Ok(());
        }
        let engine = self.engine()?;
        let service = self.clone();
        std::thread::Builder::new()
            .name("model-download".into())
            .spawn(move || {
                let shared = &service.shared;
                let result = engine.fetch_model(&mut |_, _, file, p| {
                    let state = (&shared.download, &shared.download_cancel);
                    service.download_progress(state, file.display().to_string(), p.done, p.total)
                });
                drop(engine);
                let ok = result.is_ok();
                {
                    let mut d = lock(&service.shared.download);
                    match result {
                        Ok(()) => d.phase = DownloadPhase::Done,
                        Err(_) if service.shared.download_cancel.load(Ordering::Relaxed) => {
                            d.phase = DownloadPhase::Cancelled
                        }
                        Err(err) => {
                            d.phase = DownloadPhase::Failed;
                            d.error = Some(ApiError::from(err).message);
                        }
                    }
                }
                service.changed();
                if ok {
                    service.start_background();
                }
            })
            .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
        Ok(())
    }

    pub fn cancel_fetch(&self) {
        self.shared.download_cancel.store(true, Ordering::Relaxed);
    }
}
