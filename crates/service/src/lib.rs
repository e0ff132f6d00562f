//! What the desktop app and `photo-search serve` share: one [`Service`] over the core engine
//! that indexes and watches the library in the background, answers the user interface's
//! requests ([`api`]) and pushes status events. The Tauri commands and the HTTP routes are thin
//! wrappers over its methods; no SQL, ONNX or file-format code lives here.

pub mod api;
pub mod contract;
mod download;
mod events;
mod export;
mod gpu;
mod jobs;
mod search;
mod settings;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use lru::LruCache;
use photo_search_core::catalog::PhotoFilter;
use photo_search_core::duplicates;
use photo_search_core::indexer::JobControl;
use photo_search_core::library::Access;
use photo_search_core::{Engine, EngineOptions};

use api::*;
use search::Ranking;
use settings::AppSettings;

/// Status events go out at most this often (progress arrives per file).
const EVENT_INTERVAL: Duration = Duration::from_millis(250);
/// Results one page may hold, and how deep a ranking may go.
const MAX_PAGE: u32 = 1_000;
const MAX_DEPTH: usize = 10_000;
/// Rankings kept for later pages (one per recent query).
const RANKINGS_KEPT: usize = 16;
/// A job that stopped on an error is started again after this long, doubling up to a minute.
const RESTART_AFTER: Duration = Duration::from_secs(2);
const RESTART_AFTER_MAX: Duration = Duration::from_secs(60);
const UPLOADS_KEPT: usize = 64;
/// Largest image accepted as a query (the indexer's own file limit is larger; a query image
/// comes through memory).
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;

/// How the service opens the library.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The engine options: library folder, model, threads. Saved settings override the model,
    /// threads and workers.
    pub engine: EngineOptions,
    /// Index and watch the folders in the background from the start.
    pub background: bool,
}

struct Job {
    control: Arc<JobControl>,
    thread: JoinHandle<()>,
}

struct Shared {
    base: EngineOptions,
    engine: RwLock<Option<Arc<Engine>>>,
    /// While the library switches models: a reader on the model searches still use, beside the
    /// writer that embeds the photos with the next one.
    searcher: RwLock<Option<Arc<Engine>>>,
    job: Mutex<Option<Job>>,
    indexing: Mutex<IndexingState>,
    download: Mutex<DownloadState>,
    download_cancel: AtomicBool,
    /// The GPU as last reported, and when its memory in use was last asked for (`None`: look
    /// again).
    gpu: Mutex<Option<(GpuInfo, std::time::Instant)>>,
    gpu_install: Mutex<DownloadState>,
    gpu_install_cancel: AtomicBool,
    export: Mutex<ExportState>,
    uploads: Mutex<LruCache<String, Vec<f32>>>,
    /// Recent queries' rankings, each behind its own lock: the cache's lock is held only to
    /// find or add one, so folding one query's similar shots never holds up another query.
    rankings: Mutex<LruCache<String, Arc<Mutex<Ranking>>>>,
    /// The latest status snapshot, published to every subscriber.
    status: tokio::sync::watch::Sender<Option<AppStatus>>,
    revision: AtomicU64,
    /// Background jobs whose thread is running: never more than one.
    jobs_alive: AtomicUsize,
    dirty: (Mutex<bool>, Condvar),
    closed: AtomicBool,
}

/// The running app behind the user interface. Cheap to clone; every clone is the same service.
#[derive(Clone)]
pub struct Service {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Service {
    /// Opens the library for writing and, with `background`, starts indexing and watching.
    pub fn open(options: ServiceOptions) -> Result<Self, ApiError> {
        let mut engine_options = options.engine.clone();
        AppSettings::load(&engine_options.library).apply(&mut engine_options);
        engine_options.access = Access::Write;
        let engine = Engine::open(engine_options)?;
        let shared = Arc::new(Shared {
            base: options.engine,
            engine: RwLock::new(Some(Arc::new(engine))),
            searcher: RwLock::new(None),
            job: Mutex::new(None),
            indexing: Mutex::new(IndexingState::default()),
            download: Mutex::new(DownloadState::default()),
            export: Mutex::new(ExportState::default()),
            download_cancel: AtomicBool::new(false),
            gpu: Mutex::new(None),
            gpu_install: Mutex::new(DownloadState::default()),
            gpu_install_cancel: AtomicBool::new(false),
            uploads: Mutex::new(LruCache::new(NonZeroUsize::new(UPLOADS_KEPT).unwrap_or(NonZeroUsize::MIN))),
            rankings: Mutex::new(LruCache::new(NonZeroUsize::new(RANKINGS_KEPT).unwrap_or(NonZeroUsize::MIN))),
            status: tokio::sync::watch::Sender::new(None),
            revision: AtomicU64::new(0),
            jobs_alive: AtomicUsize::new(0),
            dirty: (Mutex::new(false), Condvar::new()),
            closed: AtomicBool::new(false),
        });
        let service = Service { shared };
        service.open_searcher()?;
        service.spawn_notifier()?;
        if options.background {
            service.start_background();
        }
        Ok(service)
    }

    fn engine(&self) -> Result<Arc<Engine>, ApiError> {
        self.shared
            .engine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "the library is being reopened; try again"))
    }

    /// The engine searches use: the writer's, or while switching models the reader on the
    /// model being replaced.
    fn search_engine(&self) -> Result<Arc<Engine>, ApiError> {
        let engine = self.engine()?;
        Ok(self.searcher_beside(&engine))
    }

    /// The engine searches use, for a caller that holds the writer's `engine` already (taking the
    /// engine lock again could wait on a reopen, which waits for that very engine).
    fn searcher_beside(&self, engine: &Arc<Engine>) -> Arc<Engine> {
        let searcher = self.shared.searcher.read().unwrap_or_else(|p| p.into_inner()).clone();
        searcher.unwrap_or_else(|| engine.clone())
    }

    /// Opens the reader on the current model when the writer builds the next one (a switch in
    /// progress), else drops it.
    pub(crate) fn open_searcher(&self) -> Result<(), ApiError> {
        let engine = self.engine()?;
        let building_next = engine.switching_to().is_some_and(|(id, _)| id == engine.model().manifest.id);
        let searcher = if building_next {
            let mut options = self.shared.base.clone();
            AppSettings::load(&options.library).apply(&mut options);
            options.model = photo_search_core::models::ModelChoice::Library;
            options.access = Access::Read;
            Some(Arc::new(Engine::open(options)?))
        } else {
            None
        };
        *self.shared.searcher.write().unwrap_or_else(|p| p.into_inner()) = searcher;
        Ok(())
    }

    /// Ends a switch of models once the next one covers the library: searches move to it.
    pub(crate) fn finish_switch(&self) {
        if self.shared.searcher.read().unwrap_or_else(|p| p.into_inner()).is_none() {
            return;
        }
        let Ok(engine) = self.engine() else { return };
        match engine.finish_switch() {
            Ok(true) => {
                *self.shared.searcher.write().unwrap_or_else(|p| p.into_inner()) = None;
                lock(&self.shared.uploads).clear();
                lock(&self.shared.rankings).clear();
                self.shared.revision.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {}
            Err(err) => tracing::warn!("cannot finish the switch of models: {err}"),
        }
    }

    // ---- status ----

    pub fn status(&self) -> Result<AppStatus, ApiError> {
        let engine = self.engine()?;
        let s = engine.status()?;
        let folders = folder_infos(&engine)?;
        // The model described is the one searches use; while switching, the writer builds another.
        let searcher = self.searcher_beside(&engine);
        let (model, switching_to) = if Arc::ptr_eq(&searcher, &engine) {
            (s.model, None)
        } else {
            (searcher.status()?.model, Some(engine.model().manifest.name.clone()))
        };
        let manifest = &searcher.model().manifest;
        let builtin = photo_search_core::models::BUILTIN.iter().any(|(id, _)| *id == manifest.id);
        let download_bytes: Option<u64> = manifest
            .files_for(manifest.default_cpu)
            .ok()
            .map(|files| files.iter().filter_map(|f| f.bytes).sum())
            .filter(|b| *b > 0);
        Ok(AppStatus {
            library: s.library.display().to_string(),
            photos: Counts {
                total: s.photos.total,
                indexed: s.photos.indexed,
                failed: s.photos.failed,
                offline: s.photos.offline,
            },
            folders,
            places: searcher
                .places()?
                .iter()
                .take(200)
                .map(|(name, photos)| PlaceCount { name: name.clone(), photos: *photos })
                .collect(),
            model: ModelInfo {
                id: model.id,
                name: model.name,
                description: manifest.description.clone(),
                license: manifest.license.clone(),
                precision: model.precision,
                dir: model.dir.display().to_string(),
                problem: model.problem,
                downloadable: builtin && !manifest.test_only,
                download_mb: download_bytes.map(|b| (b / 1_000_000) as u32),
            },
            switching_to,
            provider: s.provider,
            gpu_problem: s.gpu_problem,
            runtime_problem: s.runtime_problem,
            indexing: lock(&self.shared.indexing).clone(),
            download: lock(&self.shared.download).clone(),
            gpu: self.gpu_info()?,
            gpu_install: lock(&self.shared.gpu_install).clone(),
            export: lock(&self.shared.export).clone(),
            revision: self.shared.revision.load(Ordering::Relaxed),
        })
    }

    /// Exact copies and, with a preset, similar shots of the library (nothing is deleted).
    pub fn duplicates(&self, request: &DuplicatesRequest) -> Result<DuplicateGroups, ApiError> {
        let threshold = match request.similar.as_deref() {
            None | Some("") => None,
            Some(name) => Some(
                duplicates::preset(name)
                    .ok_or_else(|| ApiError::bad_request(format!("unknown similarity preset {name:?}")))?,
            ),
        };
        let engine = self.search_engine()?;
        let groups = |found: Vec<duplicates::Group>| -> Vec<Vec<GroupPhoto>> {
            found
                .into_iter()
                .map(|g| {
                    g.into_iter()
                        .map(|(id, path)| GroupPhoto {
                            id,
                            path: path.display().to_string(),
                            thumbnail: engine.thumbnail_path(id).ok().flatten().map(|t| t.display().to_string()),
                        })
                        .collect()
                })
                .collect()
        };
        let exact = groups(engine.exact_duplicates()?);
        let similar = match threshold {
            Some(t) => groups(engine.similar_groups(t, duplicates::DEFAULT_MAX_GROUP, &mut |_, _| {})?),
            None => Vec::new(),
        };
        Ok(DuplicateGroups { exact, similar })
    }

    pub fn failures(&self) -> Result<Vec<Failure>, ApiError> {
        Ok(self
            .engine()?
            .failures()?
            .into_iter()
            .map(|f| Failure { path: f.path.display().to_string(), reason: f.reason })
            .collect())
    }

    pub fn photo(&self, id: i64) -> Result<PhotoDetails, ApiError> {
        let engine = self.engine()?;
        let p = engine
            .photo_details(id)?
            .ok_or_else(|| ApiError::not_found(format!("photo {id} is not in the library")))?;
        let camera = match (p.camera_make, p.camera_model) {
            (Some(make), Some(model)) if model.starts_with(&make) => Some(model),
            (Some(make), Some(model)) => Some(format!("{make} {model}")),
            (make, model) => make.or(model),
        };
        Ok(PhotoDetails {
            id,
            path: p.path.display().to_string(),
            format: p.format,
            width: p.width,
            height: p.height,
            taken_at: p.taken_at,
            camera,
            size_bytes: p.size,
            thumbnail: p.thumbnail.map(|t| t.display().to_string()),
        })
    }

    /// Where thumbnails are stored (the desktop app lets its webview read this folder).
    pub fn thumbnails_dir(&self) -> Result<PathBuf, ApiError> {
        Ok(self.engine()?.library().thumbs_dir())
    }

    /// The thumbnail file of a photo, by id only.
    pub fn thumbnail_file(&self, id: i64) -> Result<PathBuf, ApiError> {
        self.engine()?.thumbnail_path(id)?.ok_or_else(|| ApiError::not_found(format!("photo {id} has no thumbnail")))
    }

    /// The original file of a photo, by id only, with its format name.
    pub fn original_file(&self, id: i64) -> Result<(PathBuf, Option<String>), ApiError> {
        let p = self
            .engine()?
            .photo_details(id)?
            .ok_or_else(|| ApiError::not_found(format!("photo {id} is not in the library")))?;
        Ok((p.path, p.format))
    }

    // ---- folders ----

    pub fn folders(&self) -> Result<Vec<FolderInfo>, ApiError> {
        folder_infos(&*self.engine()?)
    }

    /// Adds a folder and restarts the background job so that it is indexed and watched.
    pub fn add_folder(&self, path: &str) -> Result<Vec<FolderInfo>, ApiError> {
        self.engine()?.add_folder(Path::new(path))?;
        self.start_background();
        self.folders()
    }

    pub fn remove_folder(&self, path: &str) -> Result<Vec<FolderInfo>, ApiError> {
        self.stop_background();
        let result = self.engine().and_then(|e| Ok(e.remove_folder(Path::new(path))?));
        self.shared.revision.fetch_add(1, Ordering::Relaxed);
        self.start_background();
        result?;
        self.folders()
    }

    /// Scans every folder again (the watcher normally makes this unnecessary).
    pub fn rescan(&self) {
        self.start_background();
    }
}

fn folder_infos(engine: &Engine) -> Result<Vec<FolderInfo>, ApiError> {
    Ok(engine
        .folders()?
        .into_iter()
        .map(|f| FolderInfo { path: f.path.display().to_string(), offline: f.offline })
        .collect())
}

fn filter_of(filters: &Filters) -> Result<PhotoFilter, ApiError> {
    photo_search_core::query::FilterFields {
        folder: filters.folder.as_deref(),
        from: filters.from.as_deref(),
        to: filters.to.as_deref(),
        formats: &filters.formats,
        place: filters.place.as_deref(),
    }
    .build()
    .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Content types for the formats the catalog records.
pub fn content_type(format: Option<&str>) -> &'static str {
    match format {
        Some("jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("tiff") => "image/tiff",
        Some("bmp") => "image/bmp",
        Some("heic") => "image/heic",
        Some("avif") => "image/avif",
        _ => "application/octet-stream",
    }
}
