//! The library folder: where the catalog, the vector indexes, downloaded models and caches live,
//! and the writer lock that keeps a second process from writing the same library.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::models::ModelChoice;

/// Environment variable that overrides the default library folder.
pub const LIBRARY_ENV: &str = "PHOTO_SEARCH_LIBRARY";

/// Why the library cannot be opened.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("this platform has no data directory; pass --library DIR or set {LIBRARY_ENV}")]
    NoDataDir,
    #[error("cannot create the library folder {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("library {path} is in use by PID {pid}; stop that process or choose another --library")]
    InUse { path: PathBuf, pid: String },
    #[error("cannot lock the library {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Whether this process will write the library. Only one writer at a time; readers are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Search and status only: no lock, nothing written.
    Read,
    /// The library's single writer (indexing, watching, settings).
    Write,
}

/// An opened library folder. A writer holds an exclusive OS lock for as long as it lives; the
/// OS drops the lock when the process dies, so a crash never leaves the library locked.
#[derive(Debug)]
pub struct Library {
    root: PathBuf,
    access: Access,
    _writer_lock: Option<File>,
}

impl Library {
    /// The platform data directory, e.g. `~/.local/share/photo-search`.
    pub fn default_root() -> Result<PathBuf, LibraryError> {
        dirs::data_dir().map(|d| d.join("photo-search")).ok_or(LibraryError::NoDataDir)
    }

    /// Opens (or creates) the library at `root`; a writer takes the single-writer lock.
    pub fn open(root: &Path, access: Access) -> Result<Self, LibraryError> {
        for dir in
            [root.to_path_buf(), root.join("index"), root.join("models"), root.join("cache"), root.join("thumbs")]
        {
            fs::create_dir_all(&dir).map_err(|source| LibraryError::Create { path: dir.clone(), source })?;
        }
        // Absolute from here on: paths are shown to people and stored by other components.
        let root = root.canonicalize().map_err(|source| LibraryError::Create { path: root.to_path_buf(), source })?;
        let root = root.as_path();
        let lock = match access {
            Access::Write => Some(take_writer_lock(root)?),
            Access::Read => None,
        };
        Ok(Library { root: root.to_path_buf(), access, _writer_lock: lock })
    }

    /// The library's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How it was opened.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The catalog's file.
    pub fn catalog_path(&self) -> PathBuf {
        self.root.join("catalog.sqlite")
    }

    /// One vector index file per model: vectors of two models never share an index.
    pub fn index_path(&self, model_id: &str) -> PathBuf {
        self.root.join("index").join(format!("{model_id}.usearch"))
    }

    /// Downloaded models, one folder per model id.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// Where a user may drop an ONNX Runtime library for this library's use.
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.join("runtime")
    }

    /// Thumbnails, named by content hash so renames and duplicates share one.
    pub fn thumbs_dir(&self) -> PathBuf {
        self.root.join("thumbs")
    }

    /// Rebuildable data: optimized graphs, checksum stamps.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }
}

/// The file that records which model a library searches with.
fn model_file(root: &Path) -> PathBuf {
    root.join("model.json")
}

/// What `model.json` holds: the model searches use and, while switching, the one being built.
/// Older versions wrote a bare [`ModelChoice`]; it still reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum ModelRecord {
    Switching { current: ModelChoice, next: Option<ModelChoice> },
    Plain(ModelChoice),
}

fn read_model_record(root: &Path) -> Option<(ModelChoice, Option<ModelChoice>)> {
    let bytes = fs::read(model_file(root)).ok()?;
    match serde_json::from_slice::<ModelRecord>(&bytes) {
        Ok(ModelRecord::Plain(current)) => Some((current, None)),
        Ok(ModelRecord::Switching { current, next }) => Some((current, next)),
        Err(err) => {
            tracing::warn!("ignoring {}: {err}", model_file(root).display());
            None
        }
    }
}

fn write_model_record(root: &Path, current: &ModelChoice, next: Option<&ModelChoice>) -> std::io::Result<()> {
    let absolute = |choice: &ModelChoice| match choice {
        ModelChoice::Dir(dir) => dir.canonicalize().map(ModelChoice::Dir),
        other => Ok(other.clone()),
    };
    let record = ModelRecord::Switching { current: absolute(current)?, next: next.map(absolute).transpose()? };
    let json = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
    crate::fsio::write_atomic(&model_file(root), &json)
}

/// The model the library at `root` searches with: recorded when it was first opened for
/// writing, or chosen since (`photo-search models use`, the app's settings). `None` for a
/// library that records none (the default model then).
pub fn active_model(root: &Path) -> Option<ModelChoice> {
    read_model_record(root).map(|(current, _)| current).filter(|c| *c != ModelChoice::Library)
}

/// The model the library is switching to, while it embeds the photos in the background;
/// searches keep using [`active_model`] until it covers the library.
pub fn next_model(root: &Path) -> Option<ModelChoice> {
    read_model_record(root).and_then(|(_, next)| next).filter(|c| *c != ModelChoice::Library)
}

/// Records the model the library at `root` searches with from now on (ending any switch); a
/// folder is recorded as an absolute path, so every program finds it whatever its working
/// directory.
pub fn set_active_model(root: &Path, choice: &ModelChoice) -> std::io::Result<()> {
    if *choice == ModelChoice::Library {
        return Ok(());
    }
    write_model_record(root, choice, None)
}

/// Starts (or, with `None`, abandons) a switch to `next`: searches keep the current model.
pub fn set_next_model(root: &Path, next: Option<&ModelChoice>) -> std::io::Result<()> {
    let current = active_model(root).unwrap_or_else(|| ModelChoice::Id(crate::models::DEFAULT_MODEL.into()));
    write_model_record(root, &current, next.filter(|n| **n != ModelChoice::Library))
}

/// Where the thumbnail of content `hash` is stored.
pub fn thumbnail_file(thumbs_dir: &Path, hash: &[u8; 32]) -> PathBuf {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    thumbs_dir.join(&hex[..2]).join(format!("{hex}.jpg"))
}

fn take_writer_lock(root: &Path) -> Result<File, LibraryError> {
    let path = root.join("writer.lock");
    let lock_err = |source| LibraryError::Lock { path: path.clone(), source };
    let mut file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(lock_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            // The holder wrote its PID when it took the lock; an unreadable file still means "in use".
            if file.read_to_string(&mut pid).is_err() || pid.trim().is_empty() {
                pid = "unknown".into();
            }
            return Err(LibraryError::InUse { path: root.to_path_buf(), pid: pid.trim().to_string() });
        }
        Err(TryLockError::Error(source)) => return Err(lock_err(source)),
    }
    file.set_len(0).map_err(lock_err)?;
    file.rewind().map_err(lock_err)?;
    write!(file, "{}", std::process::id()).map_err(lock_err)?;
    file.flush().map_err(lock_err)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_model_is_recorded_with_folders_made_absolute() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(active_model(dir.path()), None);
        set_active_model(dir.path(), &ModelChoice::Id("some-model".into())).unwrap();
        assert_eq!(active_model(dir.path()), Some(ModelChoice::Id("some-model".into())));
        let model_dir = dir.path().join("models/mine");
        fs::create_dir_all(&model_dir).unwrap();
        let relative = relative_to_cwd(&model_dir);
        set_active_model(dir.path(), &ModelChoice::Dir(relative)).unwrap();
        assert_eq!(active_model(dir.path()), Some(ModelChoice::Dir(model_dir.canonicalize().unwrap())));
        fs::write(model_file(dir.path()), b"{not json").unwrap();
        assert_eq!(active_model(dir.path()), None, "a damaged record means the default");
    }

    #[test]
    fn a_switch_keeps_the_current_model_until_it_ends_and_old_records_still_read() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("model.json"), br#"{"id": "old-style"}"#).unwrap();
        assert_eq!(active_model(dir.path()), Some(ModelChoice::Id("old-style".into())));
        set_next_model(dir.path(), Some(&ModelChoice::Id("next".into()))).unwrap();
        assert_eq!(active_model(dir.path()), Some(ModelChoice::Id("old-style".into())));
        assert_eq!(next_model(dir.path()), Some(ModelChoice::Id("next".into())));
        set_active_model(dir.path(), &ModelChoice::Id("next".into())).unwrap();
        assert_eq!(active_model(dir.path()), Some(ModelChoice::Id("next".into())));
        assert_eq!(next_model(dir.path()), None);
    }

    /// `path` relative to the working directory, by way of `..` steps from it.
    fn relative_to_cwd(path: &Path) -> PathBuf {
        let cwd = std::env::current_dir().unwrap();
        let ups = cwd.components().count() - 1;
        let mut relative: PathBuf = std::iter::repeat_n("..", ups).collect();
        relative.push(path.strip_prefix("/").unwrap());
        relative
    }

    #[test]
    fn second_writer_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Library::open(dir.path(), Access::Write).unwrap();
        // Locks are per open file description, so a second open in the same process conflicts too.
        let err = Library::open(dir.path(), Access::Write).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&format!("in use by PID {}", std::process::id())), "{message}");
    }

    #[test]
    fn readers_do_not_need_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _writer = Library::open(dir.path(), Access::Write).unwrap();
        Library::open(dir.path(), Access::Read).unwrap();
    }

    #[test]
    fn lock_is_released_when_the_writer_closes() {
        let dir = tempfile::tempdir().unwrap();
        drop(Library::open(dir.path(), Access::Write).unwrap());
        Library::open(dir.path(), Access::Write).unwrap();
    }
}
