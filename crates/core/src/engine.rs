//! The engine: one opened library with its model, encoders and vector index. The CLI, the
//! desktop app and the server call only this.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

mod jobs;
mod model;
mod search;

use crate::api::{IndexStatus, ModelStatus, Status};
use crate::catalog::{Catalog, CatalogError, Folder};
use crate::decode::DecodeLimits;
use crate::download::DownloadError;
use crate::encoder::{EncoderError, EncoderOptions, Encoders, ImageEncoder, TextEncoder};
use crate::index::{IndexError, Quantization, VectorIndex};
use crate::indexer::IndexerError;
use crate::library::{Access, Library, LibraryError};
use crate::models::{ModelChoice, ModelError, ModelLocation};
use crate::query::QueryError;
use crate::runtime::{self, Provider, RuntimeError};
use crate::scan::Excludes;
use crate::watch::WatchError;

/// Every way an engine operation can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    #[error("{what}")]
    DiskFull { what: String },
    #[error("cannot record the library's model in {path}")]
    RecordModel {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is the model this library searches with: choose another first (`photo-search models use`)")]
    ModelInUse(String),
}

impl From<IndexerError> for Error {
    fn from(e: IndexerError) -> Self {
        let e = e.or_disk_full();
        if matches!(e, IndexerError::DiskFull { .. }) {
            return Error::DiskFull { what: e.to_string() };
        }
        match e {
            IndexerError::Catalog(e) => Error::Catalog(e),
            IndexerError::Index(e) => Error::Index(e),
            IndexerError::Encoder(e) => Error::Encoder(e),
            IndexerError::DiskFull { what } => Error::DiskFull { what },
        }
    }
}

/// What kind of failure, for interfaces that react to it (offer a download, explain an install):
/// the one list the core, the service and the UI (through the generated bindings) share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    ModelMissing,
    ModelInvalid,
    RuntimeMissing,
    LibraryInUse,
    BadRequest,
    NotFound,
    Offline,
    DiskFull,
    /// A request without the token a non-loopback server requires.
    Unauthorized,
    Internal,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Model(ModelError::Missing { .. } | ModelError::FileMissing(_)) => ErrorKind::ModelMissing,
            Error::Model(ModelError::Unknown(_)) => ErrorKind::NotFound,
            Error::Model(ModelError::UnknownQueryEncoder { .. }) => ErrorKind::BadRequest,
            Error::Model(_) | Error::Encoder(EncoderError::Interface { .. } | EncoderError::Load { .. }) => {
                ErrorKind::ModelInvalid
            }
            Error::Runtime(_) => ErrorKind::RuntimeMissing,
            Error::Library(LibraryError::InUse { .. }) => ErrorKind::LibraryInUse,
            Error::Query(_)
            | Error::QueryImage { .. }
            | Error::BadFolder { .. }
            | Error::ReadOnly
            | Error::ModelInUse(_) => ErrorKind::BadRequest,
            Error::UnknownPhoto(_) | Error::UnknownFolder(_) => ErrorKind::NotFound,
            Error::Download(DownloadError::Unreachable { .. }) => ErrorKind::Offline,
            Error::DiskFull { .. } | Error::Catalog(CatalogError::DiskFull(_)) => ErrorKind::DiskFull,
            _ => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What choosing a model did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSwitch {
    /// Its vectors cover the library: searches use it now.
    Now,
    /// `missing` photos need its vectors: they are embedded in the background while searches
    /// keep the current model.
    Background { missing: u64 },
}

/// How to open an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub library: PathBuf,
    pub model: ModelChoice,
    pub access: Access,
    pub quantization: Quantization,
    pub encoder: EncoderOptions,
    /// The model precision to run; `None` picks by provider (the manifest's GPU default when a
    /// GPU is available and its files are pinned, else its CPU default).
    pub precision: Option<crate::models::Precision>,
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
            precision: None,
            workers: 0,
            decode_threads: None,
            limits: DecodeLimits::default(),
            excludes: Excludes::default(),
        }
    }
}

const TEXT_CACHE_ENTRIES: usize = 512;

/// Vectors drawn from the library, that a query's scores are judged against.
type Sample = Vec<Vec<f32>>;
/// Place names with their photo counts.
type Places = Vec<(String, u64)>;

/// The catalog setting that holds the saved exclude patterns (a JSON list of strings).
const EXCLUDES_SETTING: &str = "exclude_patterns";

/// The catalog setting that holds the query encoder chosen for a model (empty: its own).
fn query_encoder_setting(model_id: &str) -> String {
    format!("query_encoder:{model_id}")
}

pub struct Engine {
    library: Library,
    options: EngineOptions,
    /// The connection that writes (the indexer, settings).
    catalog: Mutex<Catalog>,
    /// A connection of its own for searches and status, so they never wait for the writer.
    reader: Mutex<Catalog>,
    model: ModelLocation,
    encoders: Mutex<Option<Arc<Encoders>>>,
    index: Mutex<Option<Arc<VectorIndex>>>,
    workers: Mutex<Option<(Layout, Arc<Vec<ImageEncoder>>)>>,
    text_cache: Mutex<LruCache<String, Vec<f32>>>,
    /// The library's vectors that relevance is judged against, with the index size they were
    /// drawn at.
    background: Mutex<Option<(usize, Arc<Sample>)>>,
    /// The places of the library's photos, with the number of indexed photos they were counted at.
    places: Mutex<Option<(u64, std::time::Instant, Arc<Places>)>>,
    /// The query encoder the library chose for this model (`None`: the model's own text tower),
    /// and its encoder once loaded.
    query: Mutex<(Option<String>, Option<Arc<TextEncoder>>)>,
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
        let reader = Catalog::open_reader(&library.catalog_path())?;
        let recorded = crate::library::active_model(library.root());
        // A writer builds the model the library is switching to; searches (readers) keep the
        // current one until it covers the library.
        let building = crate::library::next_model(library.root()).filter(|_| library.access() == Access::Write);
        let choice = match &options.model {
            ModelChoice::Library => building.or_else(|| recorded.clone()).unwrap_or_default(),
            explicit => explicit.clone(),
        };
        let model = ModelLocation::find(&choice, &library.models_dir())?;
        if library.access() == Access::Write && recorded.is_none() {
            // The first model to write a library is the one it uses from then on; another
            // chosen for one run does not change it.
            let recorded = match choice {
                ModelChoice::Library => ModelChoice::Id(model.manifest.id.clone()),
                other => other,
            };
            if let Err(err) = crate::library::set_active_model(library.root(), &recorded) {
                tracing::warn!("cannot record the library's model: {err}");
            }
        }
        let query_encoder = catalog.setting(&query_encoder_setting(&model.manifest.id))?.filter(|id| {
            let known = model.manifest.query_encoders.contains_key(id);
            if !known && !id.is_empty() {
                tracing::warn!("model {} has no query encoder '{id}' any more: using its own", model.manifest.id);
            }
            known
        });
        Ok(Engine {
            library,
            query: Mutex::new((query_encoder, None)),
            background: Mutex::new(None),
            places: Mutex::new(None),
            catalog: Mutex::new(catalog),
            reader: Mutex::new(reader),
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

    /// The read connection: searches and status never wait for the indexer's writes.
    fn reader(&self) -> MutexGuard<'_, Catalog> {
        lock(&self.reader)
    }

    fn require_write(&self) -> Result<()> {
        if self.library.access() == Access::Write { Ok(()) } else { Err(Error::ReadOnly) }
    }

    /// The vector index of the current model, loaded from its file on first use. The writer
    /// brings it up to date (replaying the catalog's newer changes, or rebuilding) on a thread
    /// of its own while searches answer from what it holds; a reader does it before answering.
    fn vector_index(&self) -> Result<Arc<VectorIndex>> {
        let mut slot = lock(&self.index);
        if let Some(index) = slot.as_ref() {
            return Ok(index.clone());
        }
        let manifest = &self.model.manifest;
        let path = self.library.index_path(&manifest.id);
        let index = Arc::new(VectorIndex::load(&path, &manifest.id, manifest.dims, self.options.quantization)?);
        if self.library.access() == Access::Write {
            let (background, catalog_path) = (index.clone(), self.library.catalog_path());
            std::thread::Builder::new()
                .name("index-catch-up".into())
                .spawn(move || {
                    let result = Catalog::open_reader(&catalog_path)
                        .map_err(IndexError::from)
                        .and_then(|catalog| background.catch_up(&catalog));
                    match result {
                        Ok(outcome) => tracing::info!("vector index ready: {outcome:?}"),
                        // The indexer's next save writes what it has; the next open checks again.
                        Err(err) => tracing::error!("cannot bring the vector index up to date: {err}"),
                    }
                })
                .map_err(|e| Error::Index(IndexError::Usearch(format!("cannot start a thread: {e}"))))?;
        } else {
            index.catch_up(&self.reader())?;
        }
        *slot = Some(index.clone());
        Ok(index)
    }

    /// Saves the vector index when anything changed since its last save (a clean stop).
    pub fn save_index(&self) -> Result<()> {
        let index = lock(&self.index).clone();
        if let Some(index) = index
            && self.library.access() == Access::Write
            && index.is_ready()
            && index.has_unsaved_changes()
        {
            crate::indexer::save_index(&self.catalog, &index, &self.model.manifest.id)?;
        }
        Ok(())
    }

    pub fn folders(&self) -> Result<Vec<Folder>> {
        Ok(self.reader().folders()?)
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
        let json = serde_json::Value::from(kept.clone()).to_string();
        self.catalog().set_setting(EXCLUDES_SETTING, &json)?;
        Ok(kept)
    }

    /// A setting the app keeps in the library (`app:` keys of the catalog), if set.
    pub fn app_setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self.reader().setting(&format!("app:{key}"))?)
    }

    /// Saves a setting of the app in the library.
    pub fn set_app_setting(&self, key: &str, value: &str) -> Result<()> {
        self.require_write()?;
        Ok(self.catalog().set_setting(&format!("app:{key}"), value)?)
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
        let index = self.vector_index()?;
        index.wait_ready();
        for id in &removed {
            index.remove(*id)?;
        }
        crate::indexer::save_index(&self.catalog, &index, &self.model.manifest.id)?;
        Ok(removed.len() as u64)
    }

    /// Frees the space of another model's vectors (catalog rows and index file); returns how
    /// many were removed. Neither the model this run uses nor the library's own can be removed.
    pub fn remove_model_vectors(&self, model_id: &str) -> Result<u64> {
        self.require_write()?;
        let library_model = crate::library::active_model(self.library.root())
            .and_then(|choice| ModelLocation::find(&choice, &self.library.models_dir()).ok())
            .map(|location| location.manifest.id);
        let next_model = self.switching_to().map(|(id, _)| id);
        if model_id == self.model.manifest.id
            || library_model.as_deref() == Some(model_id)
            || next_model.as_deref() == Some(model_id)
        {
            return Err(Error::ModelInUse(model_id.to_string()));
        }
        let removed = self.catalog().remove_model_vectors(model_id)?;
        let index = self.library.index_path(model_id);
        for file in [index.with_extension("json"), index] {
            if let Err(err) = std::fs::remove_file(&file)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("cannot remove {}: {err}", file.display());
            }
        }
        Ok(removed)
    }

    /// Makes `choice` the library's model. When its vectors already cover the library (switching
    /// back, say) searches move to it at once; otherwise the library switches in the background:
    /// searches keep the current model while a writer on the library's model (the app, `serve`,
    /// `photo-search index`) embeds the photos, and [`Engine::finish_switch`] moves searches
    /// once it covers them.
    pub fn choose_model(&self, choice: &ModelChoice) -> Result<ModelSwitch> {
        let root = self.library.root();
        let target = ModelLocation::find(choice, &self.library.models_dir())?;
        let missing = self.reader().photos_without_vector(&target.manifest.id)?;
        let recorded = if missing == 0 {
            crate::library::set_active_model(root, choice)
        } else {
            crate::library::set_next_model(root, Some(choice))
        };
        recorded.map_err(|source| Error::RecordModel { path: root.join("model.json"), source })?;
        Ok(if missing == 0 { ModelSwitch::Now } else { ModelSwitch::Background { missing } })
    }

    /// The model the library is switching to, while it is (its manifest id and name).
    pub fn switching_to(&self) -> Option<(String, String)> {
        let next = crate::library::next_model(self.library.root())?;
        let location = ModelLocation::find(&next, &self.library.models_dir()).ok()?;
        Some((location.manifest.id, location.manifest.name))
    }

    /// Ends the library's switch to this engine's model once its vectors cover every indexed
    /// photo (searches then use it); true when it did.
    pub fn finish_switch(&self) -> Result<bool> {
        let Some(next) = crate::library::next_model(self.library.root()) else { return Ok(false) };
        let next_id = ModelLocation::find(&next, &self.library.models_dir())?.manifest.id;
        if next_id != self.model.manifest.id || self.reader().photos_without_vector(&next_id)? > 0 {
            return Ok(false);
        }
        self.save_index()?;
        crate::library::set_active_model(self.library.root(), &next)
            .map_err(|source| Error::RecordModel { path: self.library.root().join("model.json"), source })?;
        tracing::info!("the library now searches with {next_id}");
        Ok(true)
    }

    /// Models with vectors in this library, with how many each has.
    pub fn vector_models(&self) -> Result<Vec<(String, u64)>> {
        Ok(self.reader().vector_models()?)
    }

    /// The photo id of an indexed file, if it is in the library.
    pub fn photo_id(&self, path: &Path) -> Result<Option<i64>> {
        let resolved = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        Ok(self.reader().photo_id_by_path(&resolved)?)
    }

    /// What the catalog knows of one photo, for a preview; `None` when it is not in the library.
    pub fn photo_details(&self, photo_id: i64) -> Result<Option<crate::api::PhotoRecord>> {
        let found = self.reader().photo(photo_id)?;
        Ok(found.map(|(record, hash)| crate::api::PhotoRecord { thumbnail: self.stored_thumbnail(hash), ..record }))
    }

    /// The stored thumbnail of a photo, if it has one.
    pub fn thumbnail_path(&self, photo_id: i64) -> Result<Option<PathBuf>> {
        let hash = self.reader().content_hash(photo_id)?;
        Ok(self.stored_thumbnail(hash))
    }

    /// The thumbnail file of content `hash`, when it was written.
    fn stored_thumbnail(&self, hash: Option<[u8; 32]>) -> Option<PathBuf> {
        hash.map(|h| crate::library::thumbnail_file(&self.library.thumbs_dir(), &h)).filter(|p| p.is_file())
    }

    pub fn failures(&self) -> Result<Vec<crate::api::FailedPhoto>> {
        Ok(self.reader().failures()?)
    }

    /// Counts, model state, the provider in use (loading the encoders to know it), index size.
    pub fn status(&self) -> Result<Status> {
        let (photos, folders) = {
            let catalog = self.reader();
            (catalog.counts()?, catalog.folders()?.into_iter().map(|f| f.path).collect())
        };
        let manifest = &self.model.manifest;
        let (provider, model_problem, runtime_problem, precision) = match self.encoders() {
            Ok(e) => {
                // A chosen query encoder whose files are missing or altered is the model's
                // problem too: text queries need it (and fetching the model fetches it). Its
                // files are checked here; its session loads with the first text query.
                let problem = self.verify_query_encoder().err().map(|err| err.to_string());
                (Some(e.provider.name().to_string()), problem, None, e.precision)
            }
            Err(err @ Error::Runtime(_)) => (None, None, Some(err.to_string()), self.precision()),
            Err(err) => {
                // The model is unusable, but the runtime may still be fine: report what it would run on.
                let provider = runtime::load(&self.library.runtime_dir()).ok().map(|_| self.provider_without_model());
                (provider.map(|p| p.name().to_string()), Some(err.to_string()), None, self.precision())
            }
        };
        let index_path = self.library.index_path(&manifest.id);
        // The index's own count once it is loaded and caught up: counting a million catalog rows
        // several times a second is what status must not do.
        let loaded = lock(&self.index).clone().filter(|i| i.is_ready());
        let vectors = match loaded {
            Some(index) => index.len() as u64,
            None => self.reader().vector_count(&manifest.id)?,
        };
        Ok(Status {
            library: self.library.root().to_path_buf(),
            photos,
            folders,
            model: ModelStatus {
                id: manifest.id.clone(),
                name: manifest.name.clone(),
                precision: precision.to_string(),
                query_encoder: self.query_encoder(),
                dir: self.model.dir.clone(),
                problem: model_problem,
            },
            switching_to: self.switching_to().map(|(id, _)| id),
            provider,
            runtime_problem,
            index: IndexStatus { vectors, file_bytes: std::fs::metadata(index_path).map_or(0, |m| m.len()) },
        })
    }
}
