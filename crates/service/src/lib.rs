//! What the desktop app and `photo-search serve` share: one [`Service`] over the core engine
//! that indexes and watches the library in the background, answers the user interface's
//! requests ([`api`]) and pushes status events. The Tauri commands and the HTTP routes are thin
//! wrappers over its methods; no SQL, ONNX or file-format code lives here.

pub mod api;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lru::LruCache;
use photo_search_core::api::Progress;
use photo_search_core::catalog::PhotoFilter;
use photo_search_core::indexer::JobControl;
use photo_search_core::library::Access;
use photo_search_core::models::ModelChoice;
use photo_search_core::query::{SearchQuery, Term, WeightedTerm, parse_date};
use photo_search_core::scan::Excludes;
use photo_search_core::{Engine, EngineOptions};
use serde::{Deserialize, Serialize};

use api::*;

/// Status events go out at most this often (progress arrives per file).
const EVENT_INTERVAL: Duration = Duration::from_millis(250);
const MAX_RESULTS: u32 = 10_000;
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

/// Settings of the app kept beside the catalog (`app-settings.json` in the library): they choose
/// how the engine is opened, so they cannot live inside it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct AppSettings {
    model_dir: Option<PathBuf>,
    threads: Option<usize>,
    workers: Option<usize>,
}

impl AppSettings {
    fn path(library: &Path) -> PathBuf {
        library.join("app-settings.json")
    }

    fn load(library: &Path) -> Self {
        std::fs::read(Self::path(library)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    fn save(&self, library: &Path) -> Result<(), ApiError> {
        let json = serde_json::to_vec_pretty(self).expect("settings serialize");
        photo_search_core::fsio::write_atomic(&Self::path(library), &json)
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot save the settings: {e}")))
    }

    fn apply(&self, options: &mut EngineOptions) {
        if let Some(dir) = &self.model_dir {
            options.model = ModelChoice::Dir(dir.clone());
        }
        if let Some(threads) = self.threads {
            options.encoder.threads = threads;
        }
        if let Some(workers) = self.workers {
            options.workers = workers;
        }
    }
}

struct Job {
    control: Arc<JobControl>,
    thread: JoinHandle<()>,
}

struct Shared {
    base: EngineOptions,
    engine: RwLock<Option<Arc<Engine>>>,
    job: Mutex<Option<Job>>,
    indexing: Mutex<IndexingState>,
    download: Mutex<DownloadState>,
    download_cancel: AtomicBool,
    uploads: Mutex<LruCache<String, Vec<f32>>>,
    subscribers: Mutex<Vec<Sender<AppStatus>>>,
    revision: AtomicU64,
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
            job: Mutex::new(None),
            indexing: Mutex::new(IndexingState::default()),
            download: Mutex::new(DownloadState::default()),
            download_cancel: AtomicBool::new(false),
            uploads: Mutex::new(LruCache::new(NonZeroUsize::new(UPLOADS_KEPT).unwrap_or(NonZeroUsize::MIN))),
            subscribers: Mutex::new(Vec::new()),
            revision: AtomicU64::new(0),
            dirty: (Mutex::new(false), Condvar::new()),
            closed: AtomicBool::new(false),
        });
        let service = Service { shared };
        service.spawn_notifier();
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

    // ---- events ----

    /// A stream of status snapshots: one now, then one (at most every 250 ms) after each change.
    pub fn subscribe(&self) -> Receiver<AppStatus> {
        let (tx, rx) = channel();
        if let Ok(status) = self.status() {
            let _ = tx.send(status);
        }
        lock(&self.shared.subscribers).push(tx);
        rx
    }

    fn changed(&self) {
        let (flag, cvar) = &self.shared.dirty;
        *lock(flag) = true;
        cvar.notify_one();
    }

    fn spawn_notifier(&self) {
        let weak = Arc::downgrade(&self.shared);
        std::thread::Builder::new()
            .name("status-events".into())
            .spawn(move || {
                loop {
                    let Some(shared) = weak.upgrade() else { return };
                    {
                        let (flag, cvar) = &shared.dirty;
                        let mut dirty = lock(flag);
                        while !*dirty && !shared.closed.load(Ordering::Relaxed) {
                            dirty = cvar
                                .wait_timeout(dirty, Duration::from_secs(1))
                                .map_or_else(|p| p.into_inner().0, |r| r.0);
                            if Arc::strong_count(&shared) == 1 {
                                return;
                            }
                        }
                        *dirty = false;
                    }
                    if shared.closed.load(Ordering::Relaxed) {
                        return;
                    }
                    let service = Service { shared };
                    if lock(&service.shared.subscribers).is_empty() {
                        continue;
                    }
                    if let Ok(status) = service.status() {
                        lock(&service.shared.subscribers).retain(|tx| tx.send(status.clone()).is_ok());
                    }
                    drop(service);
                    std::thread::sleep(EVENT_INTERVAL);
                }
            })
            .expect("spawn the status thread");
    }

    // ---- background indexing ----

    /// (Re)starts indexing every folder and then watching them. Without a usable model the job
    /// stops at once with the reason in the status; fetching the model restarts it.
    pub fn start_background(&self) {
        self.stop_background();
        let Ok(engine) = self.engine() else { return };
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
        let thread = std::thread::Builder::new()
            .name("indexer".into())
            .spawn(move || {
                let result = engine.watch(&job_control, &mut |p| service.on_progress(p));
                let mut state = lock(&service.shared.indexing);
                match result {
                    Ok(()) => *state = IndexingState { paused: state.paused, ..Default::default() },
                    Err(err) => {
                        let err = ApiError::from(err);
                        // Without a model nothing can be indexed yet: the window asks for one,
                        // and fetching it restarts this job.
                        let phase = match err.kind {
                            ErrorKind::ModelMissing | ErrorKind::ModelInvalid => IndexPhase::Idle,
                            _ => IndexPhase::Error,
                        };
                        *state = IndexingState {
                            phase,
                            paused: state.paused,
                            message: Some(err.message),
                            ..Default::default()
                        };
                    }
                }
                drop(state);
                service.changed();
            })
            .expect("spawn the indexer thread");
        *lock(&self.shared.job) = Some(Job { control, thread });
    }

    /// Stops the background job (what is finished is kept; the index is saved).
    pub fn stop_background(&self) {
        let job = lock(&self.shared.job).take();
        if let Some(job) = job {
            job.control.cancel();
            let _ = job.thread.join();
        }
    }

    fn on_progress(&self, progress: Progress) {
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

    // ---- status ----

    pub fn status(&self) -> Result<AppStatus, ApiError> {
        let engine = self.engine()?;
        let s = engine.status()?;
        let folders = folder_infos(&engine)?;
        let manifest = &engine.model().manifest;
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
            model: ModelInfo {
                id: s.model.id,
                name: s.model.name,
                precision: s.model.precision,
                dir: s.model.dir.display().to_string(),
                problem: s.model.problem,
                downloadable: builtin && !manifest.test_only,
                download_mb: download_bytes.map(|b| (b / 1_000_000) as u32),
            },
            provider: s.provider,
            runtime_problem: s.runtime_problem,
            indexing: lock(&self.shared.indexing).clone(),
            download: lock(&self.shared.download).clone(),
            revision: self.shared.revision.load(Ordering::Relaxed),
        })
    }

    pub fn failures(&self) -> Result<Vec<Failure>, ApiError> {
        Ok(self
            .engine()?
            .failures()?
            .into_iter()
            .map(|f| Failure { path: f.path.display().to_string(), reason: f.reason })
            .collect())
    }

    // ---- search ----

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, ApiError> {
        let started = Instant::now();
        let engine = self.engine()?;
        let mut terms = Vec::with_capacity(request.terms.len());
        for term in &request.terms {
            let (term, weight) = match term {
                QueryTerm::Text { text, weight } => {
                    let text = text.trim();
                    if text.is_empty() {
                        continue;
                    }
                    (Term::Text(text.to_string()), *weight)
                }
                QueryTerm::Photo { id, weight } => (Term::Photo(*id), *weight),
                QueryTerm::Image { token, weight } => {
                    let vector = lock(&self.shared.uploads).get(token).cloned().ok_or_else(|| {
                        ApiError::not_found("that image is no longer in memory; drop or upload it again")
                    })?;
                    (Term::Embedding(vector), *weight)
                }
            };
            if !weight.is_finite() {
                return Err(ApiError::bad_request("term weights must be numbers"));
            }
            terms.push(WeightedTerm { term, weight });
        }
        let filter = filter_of(&request.filters)?;
        let limit = request.limit.clamp(1, MAX_RESULTS) as usize;
        let query = SearchQuery::new(terms, filter, limit).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let hits = engine
            .search(&query)?
            .into_iter()
            .map(|h| Hit {
                id: h.id,
                path: h.path.display().to_string(),
                score: h.score,
                taken_at: h.taken_at,
                thumbnail: h.thumbnail.map(|p| p.display().to_string()),
            })
            .collect();
        Ok(SearchResponse { hits, took_ms: started.elapsed().as_secs_f64() * 1000.0 })
    }

    /// Embeds an image given as bytes (a drop, a paste, an upload) for later queries.
    pub fn upload_image(&self, bytes: &[u8], label: &str) -> Result<UploadedImage, ApiError> {
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(ApiError::bad_request(format!("image too large ({} MB)", bytes.len() >> 20)));
        }
        let token = blake3::hash(bytes).to_hex()[..24].to_string();
        if lock(&self.shared.uploads).get(&token).is_none() {
            let vector = self.engine()?.embed_image_bytes(bytes)?;
            lock(&self.shared.uploads).put(token.clone(), vector);
        }
        let label = if label.trim().is_empty() { "image".to_string() } else { label.trim().to_string() };
        Ok(UploadedImage { token, label })
    }

    /// Embeds an image file (the desktop app's drop gives paths). The file is read, not returned.
    pub fn image_from_path(&self, path: &Path) -> Result<UploadedImage, ApiError> {
        let meta = std::fs::metadata(path).map_err(|e| ApiError::bad_request(format!("{}: {e}", path.display())))?;
        if !meta.is_file() || meta.len() > MAX_UPLOAD_BYTES as u64 {
            return Err(ApiError::bad_request(format!("{} is not an image file this app can read", path.display())));
        }
        let bytes = std::fs::read(path).map_err(|e| ApiError::bad_request(format!("{}: {e}", path.display())))?;
        let label = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.upload_image(&bytes, &label)
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

    // ---- settings ----

    pub fn settings(&self) -> Result<Settings, ApiError> {
        let engine = self.engine()?;
        let saved = AppSettings::load(engine.library().root());
        Ok(Settings {
            excludes: engine.saved_excludes()?,
            builtin_excludes: Excludes::default().patterns().to_vec(),
            library: engine.library().root().display().to_string(),
            model_dir: saved.model_dir.map(|d| d.display().to_string()),
            threads: saved.threads.unwrap_or(self.shared.base.encoder.threads) as u32,
            workers: saved.workers.unwrap_or(self.shared.base.workers) as u32,
            provider: engine.status().ok().and_then(|s| s.provider),
        })
    }

    pub fn update_settings(&self, update: &SettingsUpdate) -> Result<Settings, ApiError> {
        let engine = self.engine()?;
        if let Some(excludes) = &update.excludes {
            engine.set_excludes(excludes)?;
        }
        let library = engine.library().root().to_path_buf();
        drop(engine);
        let mut saved = AppSettings::load(&library);
        let before = saved.clone();
        if let Some(dir) = &update.model_dir {
            saved.model_dir = if dir.trim().is_empty() {
                None
            } else {
                let dir = PathBuf::from(dir.trim());
                photo_search_core::models::ModelLocation::find(&ModelChoice::Dir(dir.clone()), &library.join("models"))
                    .map_err(|e| ApiError::bad_request(format!("{}: {e}", dir.display())))?;
                Some(dir)
            };
        }
        if let Some(threads) = update.threads {
            saved.threads = Some(threads as usize);
        }
        if let Some(workers) = update.workers {
            saved.workers = Some(workers as usize);
        }
        if saved != before {
            saved.save(&library)?;
            self.reopen()?;
        } else if update.excludes.is_some() {
            self.start_background();
        }
        self.settings()
    }

    /// Reopens the engine with the saved settings (a model folder, threads), then restarts the
    /// background job.
    fn reopen(&self) -> Result<(), ApiError> {
        self.stop_background();
        let mut options = self.shared.base.clone();
        AppSettings::load(&options.library).apply(&mut options);
        options.access = Access::Write;
        {
            let mut slot = self.shared.engine.write().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = slot.take() {
                // Requests in flight hold the engine; the library lock goes with the last of them.
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut old = old;
                loop {
                    match Arc::try_unwrap(old) {
                        Ok(engine) => break drop(engine),
                        Err(still) if Instant::now() < deadline => {
                            old = still;
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(still) => {
                            *slot = Some(still);
                            return Err(ApiError::new(ErrorKind::LibraryInUse, "the library is busy; try again"));
                        }
                    }
                }
            }
            *slot = Some(Arc::new(Engine::open(options)?));
        }
        lock(&self.shared.uploads).clear();
        self.shared.revision.fetch_add(1, Ordering::Relaxed);
        self.start_background();
        Ok(())
    }

    // ---- model ----

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

fn folder_infos(engine: &Engine) -> Result<Vec<FolderInfo>, ApiError> {
    Ok(engine
        .folders()?
        .into_iter()
        .map(|f| FolderInfo { path: f.path.display().to_string(), offline: f.offline })
        .collect())
}

fn filter_of(filters: &Filters) -> Result<PhotoFilter, ApiError> {
    let date = |text: &Option<String>, end| -> Result<Option<i64>, ApiError> {
        match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => parse_date(t, end).map(Some).map_err(|e| ApiError::bad_request(e.to_string())),
            None => Ok(None),
        }
    };
    Ok(PhotoFilter {
        folder: filters.folder.as_deref().map(str::trim).filter(|f| !f.is_empty()).map(PathBuf::from),
        from: date(&filters.from, false)?,
        to: date(&filters.to, true)?,
        formats: filters.formats.iter().map(|f| f.trim().to_lowercase()).filter(|f| !f.is_empty()).collect(),
    })
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
