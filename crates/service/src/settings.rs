//! Settings: the ones saved in the library (excludes) and the app's own beside the catalog
//! (model folder, threads, workers), which reopen the engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use photo_search_core::library::{self, Access};
use photo_search_core::models::{self, ModelChoice};
use photo_search_core::scan::Excludes;
use photo_search_core::{Engine, EngineOptions};
use serde::{Deserialize, Serialize};

use crate::api::{
    ApiError, ErrorKind, ModelOption, QueryEncoderOption, QueryTerm, SavedSearch, Settings, SettingsUpdate,
};
use crate::{Service, lock};

/// Settings of the app kept beside the catalog (`app-settings.json` in the library): they choose
/// how the engine is opened, so they cannot live inside it. The model is the library's own
/// (`library::active_model`), shared with the CLI and `serve`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AppSettings {
    /// Where earlier versions kept the app's model folder: moved into the library on load.
    #[serde(default, skip_serializing)]
    model_dir: Option<PathBuf>,
    threads: Option<usize>,
    workers: Option<usize>,
}

impl AppSettings {
    pub(crate) fn path(library: &Path) -> PathBuf {
        library.join("app-settings.json")
    }

    pub(crate) fn load(library: &Path) -> Self {
        let mut settings: Self =
            std::fs::read(Self::path(library)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        if let Some(dir) = settings.model_dir.take() {
            match library::set_active_model(library, &ModelChoice::Dir(dir.clone())) {
                Ok(()) => {
                    if let Err(err) = settings.save(library) {
                        tracing::warn!("cannot rewrite the app settings: {err}");
                    }
                }
                Err(err) => tracing::warn!("cannot move the model folder {} into the library: {err}", dir.display()),
            }
        }
        settings
    }

    pub(crate) fn save(&self, library: &Path) -> Result<(), ApiError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot write the settings: {e}")))?;
        photo_search_core::fsio::write_atomic(&Self::path(library), &json)
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot save the settings: {e}")))
    }

    pub(crate) fn apply(&self, options: &mut EngineOptions) {
        if let Some(threads) = self.threads {
            options.encoder.threads = threads;
        }
        if let Some(workers) = self.workers {
            options.workers = workers;
        }
    }
}

/// The catalog setting that keeps the saved searches (JSON).
const SAVED_SEARCHES: &str = "saved_searches";
const MAX_SAVED_SEARCHES: usize = 100;

/// The saved searches of the library; none when unreadable (said in the log).
fn saved_searches(engine: &Engine) -> Vec<SavedSearch> {
    let json = match engine.app_setting(SAVED_SEARCHES) {
        Ok(Some(json)) => json,
        Ok(None) => return Vec::new(),
        Err(err) => {
            tracing::warn!("cannot read the saved searches: {err}");
            return Vec::new();
        }
    };
    serde_json::from_str(&json).unwrap_or_else(|err| {
        tracing::warn!("the saved searches are unreadable ({err}); showing none");
        Vec::new()
    })
}

impl Service {
    pub fn settings(&self) -> Result<Settings, ApiError> {
        let engine = self.engine()?;
        let saved = AppSettings::load(engine.library().root());
        let model_dir = match library::active_model(engine.library().root()) {
            Some(ModelChoice::Dir(dir)) => Some(dir.display().to_string()),
            _ => None,
        };
        let searched = self.searcher_beside(&engine);
        let manifest = &searched.model().manifest;
        let vectors: std::collections::BTreeMap<String, u64> = engine.vector_models()?.into_iter().collect();
        let switching_to = engine.switching_to().map(|(id, _)| id);
        let mut models: Vec<ModelOption> = models::BUILTIN
            .iter()
            .filter_map(|(id, _)| models::Manifest::builtin(id).ok())
            .chain((!models::BUILTIN.iter().any(|(id, _)| *id == manifest.id)).then(|| manifest.clone()))
            .chain(switching_to.as_ref().filter(|id| !models::BUILTIN.iter().any(|(b, _)| b == id)).and_then(|_| {
                let next = library::next_model(engine.library().root())?;
                models::ModelLocation::find(&next, &engine.library().models_dir()).ok().map(|l| l.manifest)
            }))
            .map(|m| ModelOption {
                vectors: vectors.get(&m.id).copied().unwrap_or(0),
                searching: m.id == manifest.id,
                switching_to: switching_to.as_deref() == Some(m.id.as_str()),
                builtin: models::BUILTIN.iter().any(|(id, _)| *id == m.id),
                id: m.id,
                name: m.name,
                description: m.description,
                license: m.license,
            })
            .collect();
        models.dedup_by(|a, b| a.id == b.id);
        let query_encoders = manifest
            .query_encoders
            .iter()
            .map(|(id, q)| QueryEncoderOption {
                id: id.clone(),
                name: q.name.clone(),
                description: q.description.clone(),
                license: q.license.clone(),
            })
            .collect();
        Ok(Settings {
            saved_searches: saved_searches(&engine),
            models,
            query_encoders,
            query_encoder: searched.query_encoder(),
            excludes: engine.saved_excludes()?,
            builtin_excludes: Excludes::default().patterns().to_vec(),
            library: engine.library().root().display().to_string(),
            model_dir,
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
        if let Some(saved) = &update.saved_searches {
            if saved.len() > MAX_SAVED_SEARCHES {
                return Err(ApiError::bad_request(format!("at most {MAX_SAVED_SEARCHES} saved searches")));
            }
            for search in saved {
                if search.name.trim().is_empty() || search.terms.is_empty() {
                    return Err(ApiError::bad_request("a saved search needs a name and at least one term"));
                }
                if search.terms.iter().any(|t| matches!(t, QueryTerm::Image { .. })) {
                    return Err(ApiError::bad_request(
                        "a search with a dropped image cannot be saved (the image is kept in memory only)",
                    ));
                }
            }
            let json = serde_json::to_string(saved).map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
            engine.set_app_setting(SAVED_SEARCHES, &json)?;
        }
        if let Some(query_encoder) = &update.query_encoder {
            let chosen = Some(query_encoder.trim()).filter(|q| !q.is_empty());
            // The choice belongs to the model searches use (the writer's, unless switching).
            let searched = self.searcher_beside(&engine);
            if Arc::ptr_eq(&searched, &engine) {
                engine.set_query_encoder(chosen)?;
            } else {
                return Err(ApiError::bad_request("the query language can be chosen once the switch of models ends"));
            }
            lock(&self.shared.rankings).clear();
            self.shared.revision.fetch_add(1, Ordering::Relaxed);
            self.changed();
        }
        let library = engine.library().root().to_path_buf();
        drop(engine);
        let mut saved = AppSettings::load(&library);
        let before = saved.clone();
        let mut model_chosen = false;
        if let Some(id) = &update.model {
            // The model searches use may be a folder: choosing it again (ending a switch) keeps
            // the recorded choice.
            let searched = self.search_engine()?.model().manifest.id.clone();
            let choice = match library::active_model(&library) {
                Some(current) if searched == id.trim() => current,
                _ => ModelChoice::Id(id.trim().to_string()),
            };
            self.engine()?.choose_model(&choice)?;
            model_chosen = true;
        }
        if let Some(dir) = &update.model_dir {
            let choice = if dir.trim().is_empty() {
                ModelChoice::Id(photo_search_core::models::DEFAULT_MODEL.into())
            } else {
                let dir = PathBuf::from(dir.trim());
                photo_search_core::models::ModelLocation::find(&ModelChoice::Dir(dir.clone()), &library.join("models"))
                    .map_err(|e| ApiError::bad_request(format!("{}: {e}", dir.display())))?;
                ModelChoice::Dir(dir)
            };
            if library::active_model(&library).as_ref() != Some(&choice) || library::next_model(&library).is_some() {
                self.engine()?.choose_model(&choice)?;
                model_chosen = true;
            }
        }
        if let Some(threads) = update.threads {
            saved.threads = Some(threads as usize);
        }
        if let Some(workers) = update.workers {
            saved.workers = Some(workers as usize);
        }
        if saved != before || model_chosen {
            saved.save(&library)?;
            self.reopen(model_chosen)?;
            // A built-in model chosen in the app is downloaded right away (with progress in the
            // status): the switch waits for it, searches meanwhile use the current model.
            let engine = self.engine()?;
            let builtin = models::BUILTIN.iter().any(|(id, _)| *id == engine.model().manifest.id);
            let missing = matches!(
                engine.verify_model(),
                Err(photo_search_core::Error::Model(
                    models::ModelError::Missing { .. } | models::ModelError::FileMissing(_)
                ))
            );
            if update.model.is_some() && builtin && missing {
                self.fetch_model()?;
            }
        } else if update.excludes.is_some() {
            self.start_background();
        }
        self.settings()
    }

    /// Frees the space of another model's vectors (not the one searches use, nor the one being
    /// switched to).
    pub fn remove_model_vectors(&self, model_id: &str) -> Result<Settings, ApiError> {
        self.engine()?.remove_model_vectors(model_id)?;
        self.settings()
    }

    /// Reopens the engine with the saved settings (threads, workers), then restarts the
    /// background job. With `model_chosen`, on the library's model even if this process was
    /// started with another (`--model` chooses for one run only).
    pub(crate) fn reopen(&self, model_chosen: bool) -> Result<(), ApiError> {
        self.stop_background();
        let mut options = self.shared.base.clone();
        AppSettings::load(&options.library).apply(&mut options);
        if model_chosen {
            options.model = ModelChoice::Library;
        }
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
        self.open_searcher()?;
        lock(&self.shared.uploads).clear();
        // Later pages must not continue a ranking the previous engine (perhaps another model) made.
        lock(&self.shared.rankings).clear();
        self.shared.revision.fetch_add(1, Ordering::Relaxed);
        self.start_background();
        Ok(())
    }
}
