//! Choosing another model: switching to it while its vectors are computed, and freeing the
//! space of another model's vectors.

use super::{Engine, Error, ModelSwitch, Result};
use crate::models::{ModelChoice, ModelLocation};

impl Engine {
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
}
