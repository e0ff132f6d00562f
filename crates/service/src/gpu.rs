//! The GPU in the app: what the driver reports (looked at once, and again after an install),
//! the offer to download the GPU runtime, and installing it in the background with progress.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use photo_search_core::gpu::{self, install};

use crate::api::{ApiError, DownloadPhase, ErrorKind, GpuInfo};
use crate::{Service, lock};

/// How often the GPU memory in use is asked for, at most.
const MEMORY_RECHECK: Duration = Duration::from_secs(5);

fn mb(bytes: u64) -> u32 {
    u32::try_from(bytes / 1_000_000).unwrap_or(u32::MAX)
}

impl Service {
    /// The GPU as the status shows it: reported once (nvidia-smi, the runtime's probe) and
    /// kept until an install changes it.
    pub(crate) fn gpu_info(&self) -> Result<GpuInfo, ApiError> {
        let mut cached = lock(&self.shared.gpu);
        if let Some((info, at)) = cached.as_mut() {
            // While the model runs on the GPU, the memory it holds is asked for again at most
            // every few seconds (the status is built up to four times a second).
            if info.runs_on_gpu && at.elapsed() >= MEMORY_RECHECK {
                info.memory_used_mb = gpu::memory_used_by(std::process::id()).map(mb);
                *at = Instant::now();
            }
            return Ok(info.clone());
        }
        drop(cached);
        let runtime_dir = self.engine()?.library().runtime_dir();
        let report = gpu::report(&runtime_dir);
        let card = report.gpus.first();
        let mut info = GpuInfo {
            name: card.map(|g| g.name.clone()),
            memory_mb: card.map(|g| mb(g.memory_bytes)),
            driver: card.map(|g| g.driver.clone()),
            problem: report.problem.clone(),
            runtime_installed: report.installed.is_some(),
            // The runtime in use was loaded before the install: the next start loads the new one.
            restart_needed: report.installed.is_some()
                && !report.runtime.as_ref().is_some_and(|dylib| dylib.starts_with(&report.install_dir)),
            offer: report.should_offer_install(),
            download_mb: report.download_bytes.map(mb),
            memory_limit_mb: report.memory_limit.map(mb),
            memory_used_mb: None,
            runs_on_gpu: report.provider.as_deref() == Some("CUDA"),
        };
        if info.runs_on_gpu {
            info.memory_used_mb = gpu::memory_used_by(std::process::id()).map(mb);
        }
        *lock(&self.shared.gpu) = Some((info.clone(), Instant::now()));
        Ok(info)
    }

    /// Downloads and installs the GPU runtime in the background (progress in the status); it is
    /// used from the next start.
    pub fn install_gpu_runtime(&self) -> Result<(), ApiError> {
        if !self.begin_download(&self.shared.gpu_install, &self.shared.gpu_install_cancel) {
            return Ok(());
        }
        let manifest = install::RuntimeManifest::for_this_platform()
            .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
        let runtime_dir = self.engine()?.library().runtime_dir();
        let service = self.clone();
        std::thread::Builder::new()
            .name("gpu-runtime-download".into())
            .spawn(move || {
                let system = install::system_libraries();
                let result =
                    install::install(&manifest, &runtime_dir, &system, install::Source::Publishers, &mut |p| {
                        let state = (&service.shared.gpu_install, &service.shared.gpu_install_cancel);
                        service.download_progress(state, p.name.clone(), p.done, Some(p.total))
                    });
                {
                    let mut d = lock(&service.shared.gpu_install);
                    d.phase = match result {
                        Ok(_) => DownloadPhase::Done,
                        Err(install::InstallError::Cancelled) => DownloadPhase::Cancelled,
                        Err(err) => {
                            d.error = Some(err.to_string());
                            DownloadPhase::Failed
                        }
                    };
                }
                *lock(&service.shared.gpu) = None;
                service.changed();
            })
            .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
        Ok(())
    }

    /// Stops the GPU runtime's download; what was received is resumed next time.
    pub fn cancel_gpu_install(&self) {
        self.shared.gpu_install_cancel.store(true, Ordering::Relaxed);
    }
}
