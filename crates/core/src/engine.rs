//! The engine: one opened library with its model, encoders and vector index. The CLI, the
//! desktop app and the server call only this.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

mod error;
mod folders;
mod jobs;
mod model;
mod search;
mod status;
mod switch;

pub use error::{Error, ErrorKind, Result};

use crate::catalog::Catalog;
use crate::decode::DecodeLimits;
use crate::encoder::{EncoderOptions, Encoders, ImageEncoder, TextEncoder};
use crate::index::{IndexError, Quantization, VectorIndex};
use crate::library::{Access, Library};
use crate::models::{ModelChoice, ModelLocation};
use crate::runtime::Provider;
use crate::scan::Excludes;

/// What choosing a model did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSwitch {
    /// Its vectors cover the library: searches use it now.
    Now,
    /// `missing` photos need its vectors: they are embedded in the background while searches
    /// keep the current model.
    Background {
        /// Photos without its vector yet.
        missing: u64,
    },
}

/// How to open an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The library's folder.
    pub library: PathBuf,
    /// The model to search with (the library's own unless this run chooses another).
    pub model: ModelChoice,
    /// Read-only (search, status) or the library's single writer.
    pub access: Access,
    /// How the vector index stores vectors.
    pub quantization: Quantization,
    /// Threads, precision and batch size of the encoders.
    pub encoder: EncoderOptions,
    /// The model precision to run; `None` picks by provider (the manifest's GPU default when a
    /// GPU is available and its files are pinned, else its CPU default).
    pub precision: Option<crate::models::Precision>,
    /// Indexing workers, each with its own vision session; 0 picks by provider and cores.
    pub workers: usize,
    /// Threads that only decode while indexing; `None` picks by provider (none on CPU, where
    /// each worker decodes its own batch; one per core on GPU).
    pub decode_threads: Option<usize>,
    /// Pixel and memory limits of decoding.
    pub limits: DecodeLimits,
    /// What the scanner and the watcher skip.
    pub excludes: Excludes,
}

/// How indexing uses the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Indexing workers (0: one per core on a CPU).
    pub workers: usize,
    /// ONNX Runtime threads per worker session.
    pub threads: usize,
    /// Decoding threads feeding a GPU encoder (0: chosen from the cores).
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
    /// Options for `library` with `model`, everything else at its default.
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

/// One opened library with its model, encoders and vector index: what the CLI, the app and the server call.
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

    /// The library's folder and layout.
    pub fn library(&self) -> &Library {
        &self.library
    }

    /// The model in use and its folder.
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
                .map_err(|e| Error::Index(IndexError::Thread(e)))?;
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
}
