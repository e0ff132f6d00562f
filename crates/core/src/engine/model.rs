//! The engine's model: which precision to run, verifying the files against their pins, loading
//! the encoders (and ONNX Runtime) on first use, and downloading the files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Engine, Error, Result, lock};
use crate::download::{self, DownloadError, DownloadProgress};
use crate::encoder::{EncoderError, EncoderOptions, Encoders, TextEncoder};
use crate::models::{self, Precision, VerifiedStamps};
use crate::runtime::{self, Provider};

impl Engine {
    pub(super) fn stamps_path(&self) -> PathBuf {
        self.library.cache_dir().join("verified.json")
    }

    /// The precision to run: the one chosen, else the GPU default when a GPU runs the encoders
    /// here and its files are pinned, else the CPU default.
    pub(super) fn precision(&self) -> Precision {
        self.precision_on(self.provider())
    }

    /// The precision to run on `provider`.
    fn precision_on(&self, provider: Provider) -> Precision {
        let manifest = &self.model.manifest;
        if let Some(chosen) = self.options.precision {
            return chosen;
        }
        if provider.is_gpu() && manifest.default_gpu != manifest.default_cpu {
            let pinned =
                manifest.files_for(manifest.default_gpu).is_ok_and(|files| files.iter().all(|f| f.sha256.is_some()));
            if pinned {
                return manifest.default_gpu;
            }
            tracing::warn!(
                "{} is not pinned for {}; using {}",
                manifest.default_gpu,
                manifest.id,
                manifest.default_cpu
            );
        }
        manifest.default_cpu
    }

    /// Checks the model's files against their pins (cached by size and time).
    pub fn verify_model(&self) -> Result<Precision> {
        self.verify_model_on(self.provider())
    }

    fn verify_model_on(&self, provider: Provider) -> Result<Precision> {
        let precision = self.precision_on(provider);
        let mut stamps = VerifiedStamps::load(&self.stamps_path());
        let result = models::verify(&self.model, precision, &mut stamps);
        stamps.save(&self.stamps_path());
        result?;
        Ok(precision)
    }

    /// The encoders, loaded on first use: verifies the model, loads ONNX Runtime, opens sessions.
    pub fn encoders(&self) -> Result<Arc<Encoders>> {
        let mut slot = lock(&self.encoders);
        if let Some(encoders) = slot.as_ref() {
            return Ok(encoders.clone());
        }
        // The runtime first: which precision to verify depends on whether a GPU runs it.
        let runtime = runtime::load(&self.library.runtime_dir())?;
        let load = |provider| -> Result<Encoders> {
            let precision = self.verify_model_on(provider)?;
            let (cache, options) = (self.library.cache_dir(), self.encoder_options(provider));
            Ok(Encoders::load(&runtime, &self.model, precision, provider, &cache, options)?)
        };
        let encoders = match runtime.gpu_provider() {
            Some(gpu) => match load(gpu) {
                // A GPU that cannot open the model is given up: the CPU runs its own precision
                // (the fast int8 graph, not the GPU's fp16) at its own batch size.
                Err(Error::Encoder(err @ EncoderError::Load { .. })) => {
                    runtime.give_up_gpu(gpu, &err);
                    load(Provider::Cpu)?
                }
                other => other?,
            },
            None => load(Provider::Cpu)?,
        };
        let encoders = Arc::new(encoders);
        tracing::info!(
            "model {} ({}) on {}, batch {}",
            self.model.manifest.id,
            encoders.precision,
            encoders.provider.name(),
            encoders.batch_size
        );
        *slot = Some(encoders.clone());
        Ok(encoders)
    }

    /// The query encoder chosen for this library's model, if any (else the model's own text
    /// tower embeds queries).
    pub fn query_encoder(&self) -> Option<String> {
        lock(&self.query).0.clone()
    }

    /// Chooses the query encoder (`None`: the model's own text tower) for this model in this
    /// library. No photo is re-encoded: only queries go through it. Its files are checked when
    /// the first query needs it; fetching the model fetches them.
    pub fn set_query_encoder(&self, id: Option<&str>) -> Result<()> {
        self.require_write()?;
        let manifest = &self.model.manifest;
        if let Some(id) = id {
            manifest.query_encoder(id)?;
        }
        self.catalog().set_setting(&super::query_encoder_setting(&manifest.id), id.unwrap_or(""))?;
        *lock(&self.query) = (id.map(str::to_string), None);
        lock(&self.text_cache).clear();
        Ok(())
    }

    /// Checks the chosen query encoder's files against their pins (nothing to check without one).
    pub fn verify_query_encoder(&self) -> Result<()> {
        match self.query_encoder() {
            Some(id) => self.verify_query_files(&id),
            None => Ok(()),
        }
    }

    fn verify_query_files(&self, id: &str) -> Result<()> {
        let mut stamps = VerifiedStamps::load(&self.stamps_path());
        let verified = models::verify_query_encoder(&self.model, id, &mut stamps);
        stamps.save(&self.stamps_path());
        Ok(verified?)
    }

    /// The chosen query encoder, loaded on first use (its files verified against their pins);
    /// `None` when queries use the model's own text tower.
    pub(super) fn query_text_encoder(&self) -> Result<Option<Arc<TextEncoder>>> {
        let mut slot = lock(&self.query);
        let Some(id) = slot.0.clone() else { return Ok(None) };
        if let Some(encoder) = &slot.1 {
            return Ok(Some(encoder.clone()));
        }
        let runtime = runtime::load(&self.library.runtime_dir())?;
        self.verify_query_files(&id)?;
        let spec = self.model.manifest.query_encoder(&id)?;
        let open = |provider| {
            let files = (&spec.text, spec.graph.as_path(), spec.files.as_slice());
            let options = self.encoder_options(provider);
            TextEncoder::open(&runtime, &self.model, files, &self.library.cache_dir(), provider, &options)
        };
        let encoder = match runtime.gpu_provider() {
            Some(gpu) => open(gpu).or_else(|err| {
                runtime.give_up_gpu(gpu, &err);
                open(Provider::Cpu)
            }),
            None => open(Provider::Cpu),
        };
        let encoder = Arc::new(encoder?);
        tracing::info!("queries through {} ({id})", spec.name);
        slot.1 = Some(encoder.clone());
        Ok(Some(encoder))
    }

    /// The encoders' options on `provider`: on a GPU, the memory cap defaults to half the
    /// card's, leaving the rest to the desktop and other programs.
    pub(super) fn encoder_options(&self, provider: Provider) -> EncoderOptions {
        let mut options = self.options.encoder;
        if provider == Provider::Cuda && options.gpu_memory_limit.is_none() {
            options.gpu_memory_limit = crate::gpu::detect().first().map(crate::gpu::default_memory_limit);
        }
        options
    }

    /// Where the encoders run (or would, before they are loaded): the GPU provider that works
    /// here, else the CPU. Before ONNX Runtime is loaded, the CPU.
    pub(super) fn provider(&self) -> Provider {
        runtime::loaded().and_then(|r| r.gpu_provider()).unwrap_or(Provider::Cpu)
    }

    /// Runs `embed`; when the GPU fails it (for any reason but memory), gives the GPU up and
    /// runs it again on the CPU, so a query never fails because of the GPU.
    pub(super) fn cpu_if_the_gpu_fails<T>(&self, embed: impl Fn() -> Result<T>) -> Result<T> {
        match embed() {
            Err(Error::Encoder(err))
                if self.provider().is_gpu() && !matches!(err, EncoderError::OutOfMemory { .. }) =>
            {
                self.fall_back_to_cpu(&err);
                embed()
            }
            other => other,
        }
    }

    /// Gives the GPU up after it failed `err` and drops the encoders, so that the next use
    /// reopens them on the CPU.
    pub(super) fn fall_back_to_cpu(&self, err: &EncoderError) {
        if let Some(runtime) = runtime::loaded() {
            runtime.give_up_gpu(self.provider(), err);
        }
        self.reopen_encoders_on_cpu();
    }

    fn reopen_encoders_on_cpu(&self) {
        *lock(&self.encoders) = None;
        *lock(&self.workers) = None;
        lock(&self.query).1 = None;
    }

    /// Downloads the model's files for its precision (and its chosen query encoder's) into the library, with progress per file
    /// (`index`, `count`, file path, bytes). Files already present and valid are kept.
    pub fn fetch_model(&self, progress: &mut dyn FnMut(usize, usize, &Path, DownloadProgress) -> bool) -> Result<()> {
        self.require_write()?;
        if let Err(err) = runtime::load(&self.library.runtime_dir()) {
            tracing::warn!("fetching the CPU precision: {err}");
        }
        let precision = self.precision();
        let manifest = &self.model.manifest;
        let mut files = manifest.files_for(precision)?;
        if let Some(id) = self.query_encoder() {
            files.extend(&manifest.query_encoder(&id)?.files);
        }
        let mut stamps = VerifiedStamps::load(&self.stamps_path());
        let count = files.len();
        let result = (|| {
            for (i, spec) in files.into_iter().enumerate() {
                let dest = self.model.path_of(&spec.path);
                if models::verify_file(&dest, spec, &mut stamps).is_ok() {
                    continue;
                }
                match models::BUNDLED
                    .iter()
                    .find(|(id, path, _)| *id == self.model.manifest.id && Path::new(path) == spec.path)
                {
                    Some((_, _, bytes)) => {
                        if let Some(parent) = dest.parent() {
                            std::fs::create_dir_all(parent)
                                .map_err(|source| DownloadError::Write { path: parent.into(), source })?;
                        }
                        crate::fsio::write_atomic(&dest, bytes)
                            .map_err(|source| DownloadError::Write { path: dest.clone(), source })?;
                    }
                    None => download::fetch_file(spec, &dest, &mut |p| progress(i, count, &spec.path, p))?,
                }
                models::verify_file(&dest, spec, &mut stamps)?;
            }
            Ok(())
        })();
        stamps.save(&self.stamps_path());
        result
    }
}
