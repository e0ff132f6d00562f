//! The engine: one opened library with its model, encoders and vector index. The CLI, the
//! desktop app and the server call only this.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lru::LruCache;

use crate::api::{IndexStatus, IndexSummary, ModelStatus, Progress, SearchHit, Status};
use crate::catalog::{Catalog, CatalogError, Folder};
use crate::decode::DecodeLimits;
use crate::download::{self, DownloadError, DownloadProgress};
use crate::encoder::{EncoderError, EncoderOptions, Encoders, ImageEncoder};
use crate::index::{IndexError, OpenOutcome, Quantization, VectorIndex};
use crate::indexer::{IndexRun, IndexerError, JobControl};
use crate::library::{Access, Library, LibraryError};
use crate::models::{self, ModelChoice, ModelError, ModelLocation, Precision, VerifiedStamps};
use crate::query::{QueryError, SearchQuery, Term};
use crate::runtime::{self, Provider, RuntimeError};
use crate::scan::Excludes;
use crate::watch::{Change, FolderWatcher, WatchError};

/// Every way an engine operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("photo {0} is not in the library")]
    UnknownPhoto(i64),
    #[error("folder {0} is not in the library")]
    UnknownFolder(PathBuf),
    #[error("folder {path} cannot be used")]
    BadFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use {path} as a query image: {reason}")]
    QueryImage { path: PathBuf, reason: String },
    #[error("the library was opened read-only")]
    ReadOnly,
}

impl From<IndexerError> for Error {
    fn from(e: IndexerError) -> Self {
        match e {
            IndexerError::Catalog(e) => Error::Catalog(e),
            IndexerError::Index(e) => Error::Index(e),
            IndexerError::Encoder(e) => Error::Encoder(e),
        }
    }
}

/// What kind of failure, for interfaces that react to it (offer a download, explain an install).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    ModelMissing,
    ModelInvalid,
    RuntimeMissing,
    LibraryInUse,
    BadRequest,
    NotFound,
    Offline,
    Internal,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Model(ModelError::Missing { .. }) => ErrorKind::ModelMissing,
            Error::Model(ModelError::Unknown(_)) => ErrorKind::NotFound,
            Error::Model(_) | Error::Encoder(EncoderError::Interface { .. } | EncoderError::Load { .. }) => {
                ErrorKind::ModelInvalid
            }
            Error::Runtime(_) => ErrorKind::RuntimeMissing,
            Error::Library(LibraryError::InUse { .. }) => ErrorKind::LibraryInUse,
            Error::Query(_) | Error::QueryImage { .. } | Error::BadFolder { .. } | Error::ReadOnly => {
                ErrorKind::BadRequest
            }
            Error::UnknownPhoto(_) | Error::UnknownFolder(_) => ErrorKind::NotFound,
            Error::Download(DownloadError::Unreachable { .. }) => ErrorKind::Offline,
            _ => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to open an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub library: PathBuf,
    pub model: ModelChoice,
    pub access: Access,
    pub quantization: Quantization,
    pub encoder: EncoderOptions,
    /// Indexing workers, each with its own vision session; 0 picks by provider and cores.
    pub workers: usize,
    /// Threads that only decode while indexing; `None` picks by provider (none on CPU, where
    /// each worker decodes its own batch; one per core on GPU).
    pub decode_threads: Option<usize>,
    pub limits: DecodeLimits,
    /// What the scanner and the watcher skip.
    pub excludes: Excludes,
}

/// How indexing uses the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub workers: usize,
    /// ONNX Runtime threads per worker session.
    pub threads: usize,
    pub decode_threads: usize,
}

impl EngineOptions {
    /// On a CPU, decoding and encoding compete for the same cores: by default each core gets a
    /// worker that decodes a batch and then encodes it on a one-thread session (measured faster
    /// and steadier than decode threads beside one multi-threaded session). A GPU encodes while
    /// every core decodes.
    pub fn layout(&self, provider: Provider) -> Layout {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        if provider.is_gpu() {
            let workers = self.workers.max(1);
            return Layout {
                workers,
                threads: self.encoder.threads,
                decode_threads: self.decode_threads.unwrap_or(cores),
            };
        }
        let workers = if self.workers > 0 { self.workers } else { cores.clamp(1, 4) };
        let threads = if self.encoder.threads > 0 { self.encoder.threads } else { (cores / workers).max(1) };
        Layout { workers, threads, decode_threads: self.decode_threads.unwrap_or(0) }
    }
}

impl EngineOptions {
    pub fn new(library: PathBuf, model: ModelChoice, access: Access) -> Self {
        EngineOptions {
            library,
            model,
            access,
            quantization: Quantization::default(),
            encoder: EncoderOptions::default(),
            workers: 0,
            decode_threads: None,
            limits: DecodeLimits::default(),
            excludes: Excludes::default(),
        }
    }
}

const TEXT_CACHE_ENTRIES: usize = 512;

/// The catalog setting that holds the saved exclude patterns (a JSON list of strings).
const EXCLUDES_SETTING: &str = "exclude_patterns";

/// Largest input tensor a tuned batch may have (on top of the model's own working memory).
const MAX_BATCH_INPUT_BYTES: usize = 256 << 20;

pub struct Engine {
    library: Library,
    options: EngineOptions,
    catalog: Mutex<Catalog>,
    model: ModelLocation,
    encoders: Mutex<Option<Arc<Encoders>>>,
    index: Mutex<Option<Arc<Mutex<VectorIndex>>>>,
    workers: Mutex<Option<(Layout, Arc<Vec<ImageEncoder>>)>>,
    text_cache: Mutex<LruCache<String, Vec<f32>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere never leaves these values half-updated in a way that matters more than
    // refusing every later request would.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Opens the library (taking the writer lock for `Access::Write`) and finds the model's
    /// manifest. Model files, ONNX Runtime and the vector index are loaded when first needed.
    pub fn open(options: EngineOptions) -> Result<Self> {
        let library = Library::open(&options.library, options.access)?;
        let catalog = Catalog::open(&library.catalog_path())?;
        let model = ModelLocation::find(&options.model, &library.models_dir())?;
        Ok(Engine {
            library,
            catalog: Mutex::new(catalog),
            model,
            encoders: Mutex::new(None),
            index: Mutex::new(None),
            workers: Mutex::new(None),
            text_cache: Mutex::new(LruCache::new(NonZeroUsize::new(TEXT_CACHE_ENTRIES).unwrap_or(NonZeroUsize::MIN))),
            options,
        })
    }

    pub fn library(&self) -> &Library {
        &self.library
    }

    pub fn model(&self) -> &ModelLocation {
        &self.model
    }

    fn catalog(&self) -> MutexGuard<'_, Catalog> {
        lock(&self.catalog)
    }

    fn require_write(&self) -> Result<()> {
        if self.library.access() == Access::Write { Ok(()) } else { Err(Error::ReadOnly) }
    }

    fn stamps_path(&self) -> PathBuf {
        self.library.cache_dir().join("verified.json")
    }

    /// The precision to run: the GPU default when a GPU provider is available and its files are
    /// pinned, else the CPU default.
    fn precision(&self) -> Precision {
        let manifest = &self.model.manifest;
        if gpu_available() && manifest.default_gpu != manifest.default_cpu {
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
        let precision = self.precision();
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
        // The runtime first: which precision to verify depends on the providers it offers.
        let runtime = runtime::load(&self.library.runtime_dir())?;
        let precision = self.verify_model()?;
        let encoders = Arc::new(Encoders::load(
            &runtime,
            &self.model,
            precision,
            &self.library.cache_dir(),
            self.options.encoder,
        )?);
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

    /// The vector index of the current model, opened (or rebuilt from the catalog) on first use.
    fn vector_index(&self) -> Result<Arc<Mutex<VectorIndex>>> {
        let mut slot = lock(&self.index);
        if let Some(index) = slot.as_ref() {
            return Ok(index.clone());
        }
        let manifest = &self.model.manifest;
        let catalog = self.catalog();
        let path = self.library.index_path(&manifest.id);
        let (index, outcome) =
            VectorIndex::open(&path, &manifest.id, manifest.dims, self.options.quantization, &catalog)?;
        if matches!(outcome, OpenOutcome::Rebuilt(_)) && self.library.access() == Access::Write {
            index.save(catalog.generation()?)?;
        }
        let index = Arc::new(Mutex::new(index));
        *slot = Some(index.clone());
        Ok(index)
    }

    pub fn folders(&self) -> Result<Vec<Folder>> {
        Ok(self.catalog().folders()?)
    }

    /// Remembers a folder (absolute, resolved) for indexing.
    pub fn add_folder(&self, path: &Path) -> Result<Folder> {
        self.require_write()?;
        let resolved = path.canonicalize().map_err(|source| Error::BadFolder { path: path.into(), source })?;
        if !resolved.is_dir() {
            return Err(Error::BadFolder { path: path.into(), source: std::io::Error::other("not a folder") });
        }
        Ok(self.catalog().add_folder(&resolved)?)
    }

    /// The exclude patterns saved in the library, beyond the built-in defaults (hidden names,
    /// `@eaDir`, `#recycle`, ...). The scanner and the watcher apply them with the options' own.
    pub fn saved_excludes(&self) -> Result<Vec<String>> {
        let Some(json) = self.catalog().setting(EXCLUDES_SETTING)? else { return Ok(Vec::new()) };
        Ok(serde_json::from_str(&json).unwrap_or_else(|err| {
            tracing::warn!("saved exclude patterns are unreadable ({err}); using none");
            Vec::new()
        }))
    }

    /// Replaces the saved exclude patterns (trimmed, empty ones and repeats dropped). Files they
    /// now exclude leave the catalog at the next index run; ones they no longer exclude join it.
    pub fn set_excludes(&self, patterns: &[String]) -> Result<Vec<String>> {
        self.require_write()?;
        let mut kept: Vec<String> = Vec::new();
        for pattern in patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            if !kept.iter().any(|k| k.eq_ignore_ascii_case(pattern)) {
                kept.push(pattern.to_string());
            }
        }
        let json = serde_json::to_string(&kept).expect("a list of strings serializes");
        self.catalog().set_setting(EXCLUDES_SETTING, &json)?;
        Ok(kept)
    }

    /// What the scanner and the watcher skip: the options' patterns plus the saved ones.
    pub fn excludes(&self) -> Result<Excludes> {
        Ok(self.options.excludes.with_more(&self.saved_excludes()?))
    }

    /// Forgets a folder and its photos (the files on disk are untouched).
    pub fn remove_folder(&self, path: &Path) -> Result<u64> {
        self.require_write()?;
        let resolved = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let folder = {
            let catalog = self.catalog();
            match catalog.folder(&resolved)? {
                Some(f) => f,
                None => catalog.folder(path)?.ok_or_else(|| Error::UnknownFolder(path.into()))?,
            }
        };
        let removed = self.catalog().remove_folder(folder.id)?;
        // The catalog before the index, as the indexer takes them: never the other way round.
        let generation = self.catalog().generation()?;
        let index = self.vector_index()?;
        let mut index = lock(&index);
        for id in &removed {
            index.remove(*id)?;
        }
        index.save(generation)?;
        Ok(removed.len() as u64)
    }

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
    /// is cancelled (the index is saved after every change). Watching starts before the first
    /// scan, so nothing that happens meanwhile is missed.
    pub fn watch(&self, control: &JobControl, progress: &mut dyn FnMut(Progress)) -> Result<()> {
        self.require_write()?;
        let roots: Vec<PathBuf> = self.folders()?.into_iter().map(|f| f.path).collect();
        let (mut watcher, fallbacks) = FolderWatcher::new(&roots, self.excludes()?)?;
        for fallback in fallbacks {
            progress(Progress::Polling { folder: fallback.folder, reason: fallback.reason });
        }
        self.index_with(&[], control, progress)?;
        while !control.is_cancelled() {
            let changes = watcher.next(Duration::from_millis(500));
            if changes.is_empty() {
                continue;
            }
            let paths: Vec<PathBuf> = changes
                .into_iter()
                .map(|c| match c {
                    Change::Path(p) | Change::Rescan(p) => p,
                })
                .collect();
            self.index_paths(&paths, control, progress)?;
        }
        Ok(())
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
        let candidates: &[usize] = if encoders.provider.is_gpu() { &[8, 16, 32, 64] } else { &[4, 8, 16] };
        let item_bytes = worker.item_len() * std::mem::size_of::<f32>();
        let mut rates = Vec::new();
        for &batch in candidates.iter().filter(|b| **b * item_bytes <= MAX_BATCH_INPUT_BYTES) {
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

    fn run_job(
        &self,
        control: &JobControl,
        job: impl FnOnce(&IndexRun<'_>) -> Result<IndexSummary, IndexerError>,
    ) -> Result<IndexSummary> {
        let encoders = self.encoders()?;
        let index = self.vector_index()?;
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
            decode_threads: layout.decode_threads,
            limits: self.options.limits,
            thumbs_dir: &thumbs_dir,
            excludes: &excludes,
            control,
        };
        Ok(job(&run)?)
    }

    /// Embeds a text query, through a cache of recent queries.
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        if let Some(v) = lock(&self.text_cache).get(text) {
            return Ok(v.clone());
        }
        let encoders = self.encoders()?;
        let vector = encoders.text.embed(&[text])?.pop().ok_or(EncoderError::OutputShape {
            role: "text",
            got: 0,
            count: 1,
            dims: self.model.manifest.dims,
        })?;
        lock(&self.text_cache).put(text.to_string(), vector.clone());
        Ok(vector)
    }

    /// Embeds an image file (indexed or not).
    pub fn embed_image_file(&self, path: &Path) -> Result<Vec<f32>> {
        let prepared = crate::indexer::prepare(path, &self.model.manifest.image, self.options.limits, None);
        self.embed_prepared(prepared, path)
    }

    /// Embeds an image given as bytes (dropped, pasted or uploaded; not stored anywhere).
    pub fn embed_image_bytes(&self, bytes: &[u8]) -> Result<Vec<f32>> {
        let prepared =
            crate::indexer::prepare_bytes(bytes.to_vec(), &self.model.manifest.image, self.options.limits, None);
        self.embed_prepared(prepared, Path::new("(image)"))
    }

    /// Encodes one prepared query image; `label` names it in errors.
    fn embed_prepared(&self, prepared: Result<crate::indexer::Prepared, String>, label: &Path) -> Result<Vec<f32>> {
        let prepared = prepared.map_err(|reason| Error::QueryImage { path: label.into(), reason })?;
        let encoders = self.encoders()?;
        let mut vectors = crate::encoder::BatchEncoder::encode_batch(&encoders.image, &prepared.pixels)?;
        vectors.pop().ok_or_else(|| Error::QueryImage { path: label.into(), reason: "no embedding".into() })
    }

    /// Runs a search: combines the terms' embeddings (weights, negatives), applies the filter,
    /// returns the best photos first. Photos used as query terms are left out of the results.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        let dims = self.model.manifest.dims;
        let mut combined = vec![0.0f32; dims];
        let mut exclude = HashSet::new();
        for term in &query.terms {
            let vector = match &term.term {
                Term::Text(text) => self.embed_text(text)?,
                Term::ImageFile(path) => self.embed_image_file(path)?,
                Term::Embedding(vector) if vector.len() == dims => vector.clone(),
                Term::Embedding(vector) => {
                    return Err(Error::Query(crate::query::QueryError::Dimensions {
                        got: vector.len(),
                        expected: dims,
                    }));
                }
                Term::Photo(id) => {
                    exclude.insert(*id);
                    self.catalog().vector(*id, &self.model.manifest.id)?.ok_or(Error::UnknownPhoto(*id))?
                }
            };
            for (c, v) in combined.iter_mut().zip(vector) {
                *c += term.weight * v;
            }
        }
        let combined = crate::encoder::normalized(combined);
        let allowed = if query.filter.is_empty() {
            None
        } else {
            let mut ids: HashSet<i64> = self.catalog().filter_ids(&query.filter)?.into_iter().collect();
            ids.retain(|id| !exclude.contains(id));
            Some(ids)
        };
        let index = self.vector_index()?;
        let scored = lock(&index).search(&combined, query.limit + exclude.len(), allowed.as_ref())?;
        let scored: Vec<_> = scored.into_iter().filter(|(id, _)| !exclude.contains(id)).take(query.limit).collect();
        let ids: Vec<i64> = scored.iter().map(|(id, _)| *id).collect();
        let rows = self.catalog().hit_rows(&ids)?;
        let thumbs = self.library.thumbs_dir();
        Ok(scored
            .into_iter()
            .filter_map(|(id, score)| {
                rows.get(&id).map(|row| SearchHit {
                    id,
                    path: row.path.clone(),
                    score,
                    taken_at: row.taken_at,
                    thumbnail: row.content_hash.map(|h| crate::library::thumbnail_file(&thumbs, &h)),
                })
            })
            .collect())
    }

    /// The photo id of an indexed file, if it is in the library.
    pub fn photo_id(&self, path: &Path) -> Result<Option<i64>> {
        let resolved = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        Ok(self.catalog().photo_id_by_path(&resolved)?)
    }

    /// What the catalog knows of one photo, for a preview; `None` when it is not in the library.
    pub fn photo_details(&self, photo_id: i64) -> Result<Option<crate::api::PhotoRecord>> {
        let found = self.catalog().photo(photo_id)?;
        Ok(found.map(|(record, hash)| crate::api::PhotoRecord { thumbnail: self.stored_thumbnail(hash), ..record }))
    }

    /// The stored thumbnail of a photo, if it has one.
    pub fn thumbnail_path(&self, photo_id: i64) -> Result<Option<PathBuf>> {
        let hash = self.catalog().content_hash(photo_id)?;
        Ok(self.stored_thumbnail(hash))
    }

    /// The thumbnail file of content `hash`, when it was written.
    fn stored_thumbnail(&self, hash: Option<[u8; 32]>) -> Option<PathBuf> {
        hash.map(|h| crate::library::thumbnail_file(&self.library.thumbs_dir(), &h)).filter(|p| p.is_file())
    }

    pub fn failures(&self) -> Result<Vec<crate::api::FailedPhoto>> {
        Ok(self.catalog().failures()?)
    }

    /// Counts, model state, the provider in use (loading the encoders to know it), index size.
    pub fn status(&self) -> Result<Status> {
        let (photos, folders) = {
            let catalog = self.catalog();
            (catalog.counts()?, catalog.folders()?.into_iter().map(|f| f.path).collect())
        };
        let manifest = &self.model.manifest;
        let (provider, model_problem, runtime_problem, precision) = match self.encoders() {
            Ok(e) => (Some(e.provider.name().to_string()), None, None, e.precision),
            Err(err @ Error::Runtime(_)) => (None, None, Some(err.to_string()), self.precision()),
            Err(err) => {
                // The model is unusable, but the runtime may still be fine: report what it would run on.
                let provider = runtime::load(&self.library.runtime_dir()).ok().map(|_| self.provider_without_model());
                (provider.map(|p| p.name().to_string()), Some(err.to_string()), None, self.precision())
            }
        };
        let index_path = self.library.index_path(&manifest.id);
        let vectors = self.catalog().vector_count(&manifest.id)?;
        Ok(Status {
            library: self.library.root().to_path_buf(),
            photos,
            folders,
            model: ModelStatus {
                id: manifest.id.clone(),
                name: manifest.name.clone(),
                precision: precision.to_string(),
                dir: self.model.dir.clone(),
                problem: model_problem,
            },
            provider,
            runtime_problem,
            index: IndexStatus { vectors, file_bytes: std::fs::metadata(index_path).map_or(0, |m| m.len()) },
        })
    }

    fn provider_without_model(&self) -> Provider {
        if gpu_available() { gpu_provider() } else { Provider::Cpu }
    }

    /// Downloads the model's files for its precision into the library, with progress per file
    /// (`index`, `count`, file path, bytes). Files already present and valid are kept.
    pub fn fetch_model(&self, progress: &mut dyn FnMut(usize, usize, &Path, DownloadProgress) -> bool) -> Result<()> {
        self.require_write()?;
        if let Err(err) = runtime::load(&self.library.runtime_dir()) {
            tracing::warn!("fetching the CPU precision: {err}");
        }
        let precision = self.precision();
        let files = self.model.manifest.files_for(precision)?;
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

fn gpu_provider() -> Provider {
    if cfg!(feature = "cuda") { Provider::Cuda } else { Provider::DirectMl }
}

/// Whether a GPU execution provider compiled into this build is usable here. Asking needs
/// ONNX Runtime; before it is loaded the answer is no.
fn gpu_available() -> bool {
    if !runtime::is_loaded() {
        return false;
    }
    #[allow(unused_mut)]
    let mut available = false;
    #[cfg(feature = "cuda")]
    {
        use ort::ep::ExecutionProvider;
        available |= ort::ep::CUDA::is_available().unwrap_or(false);
    }
    #[cfg(feature = "directml")]
    {
        use ort::ep::ExecutionProvider;
        available |= ort::ep::DirectML::is_available().unwrap_or(false);
    }
    available
}
