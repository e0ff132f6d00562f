//! Downloading the model in the background, with progress in the status and cancel.

use std::sync::atomic::Ordering;

use crate::api::{ApiError, DownloadPhase, DownloadState, ErrorKind};
use crate::{Service, lock};

impl Service {
    /// Downloads the model in the background (progress in the status); the background job
    /// restarts when it is done.
    pub fn fetch_model(&self) -> Result<(), ApiError> {
        {
            let mut download = lock(&self.shared.download);
            if download.phase == DownloadPhase::Running {
                return Ok(());
            }
            *download = DownloadState { phase: DownloadPhase::Running, ..Default::default() };
        }
        self.shared.download_cancel.store(false, Ordering::Relaxed);
        self.changed();
        let engine = self.engine()?;
        let service = self.clone();
        std::thread::Builder::new()
            .name("model-download".into())
            .spawn(move || {
                let result = engine.fetch_model(&mut |_, _, file, p| {
                    let mut d = lock(&service.shared.download);
                    let file = file.display().to_string();
                    let tick = d.file.as_deref() != Some(file.as_str()) || p.done >= d.received + (1 << 20);
                    (d.file, d.received, d.total) = (Some(file), p.done, p.total);
                    drop(d);
                    if tick {
                        service.changed();
                    }
                    !service.shared.download_cancel.load(Ordering::Relaxed)
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
