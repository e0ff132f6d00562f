//! The library's folders, its exclude patterns and the settings the app keeps in it.

use std::path::Path;

use super::{EXCLUDES_SETTING, Engine, Error, Result};
use crate::catalog::Folder;
use crate::scan::Excludes;

impl Engine {
    /// The library's folders.
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
}
