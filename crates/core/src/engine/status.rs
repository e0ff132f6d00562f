//! What the engine reports: one photo's details, thumbnail and failures, and the status of
//! the library, its model and its index.

use std::path::{Path, PathBuf};

use super::{Engine, Error, Result, lock};
use crate::api::{IndexStatus, ModelStatus, Status};
use crate::runtime;

impl Engine {
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

    /// The files that could not be indexed, with their reasons.
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
                let provider = runtime::load(&self.library.runtime_dir()).ok().map(|_| self.provider());
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
            gpu_problem: runtime::loaded().and_then(|r| r.gpu().problem()),
            runtime_problem,
            index: IndexStatus { vectors, file_bytes: std::fs::metadata(index_path).map_or(0, |m| m.len()) },
        })
    }
}
