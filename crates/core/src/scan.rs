//! Walking photo folders: which files are candidate photos, skipping hidden and system folders.
//! Knows nothing of the catalog.

use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use walkdir::WalkDir;

/// Extensions of files worth trying to decode. The content decides the format; a valid JPEG
/// named `.png` is still indexed.
pub const PHOTO_EXTENSIONS: &[&str] =
    &["jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "tif", "tiff", "bmp", "heic", "heif", "avif"];

/// Folder names never walked: NAS thumbnails, recycle bins, thumbnail caches. Hidden folders
/// (a leading dot) are skipped as well.
pub const DEFAULT_EXCLUDED_DIRS: &[&str] =
    &["@eaDir", "#recycle", "$RECYCLE.BIN", "#snapshot", "System Volume Information"];

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("folder {path} cannot be read")]
    Unavailable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A candidate photo and the facts that tell whether it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
}

/// A part of the tree that could not be read; the rest of the walk goes on.
#[derive(Debug)]
pub struct ScanProblem {
    pub path: PathBuf,
    pub message: String,
}

pub fn is_photo_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| PHOTO_EXTENSIONS.iter().any(|p| p.eq_ignore_ascii_case(e)))
}

fn is_excluded_dir(name: &str) -> bool {
    name.starts_with('.') || DEFAULT_EXCLUDED_DIRS.iter().any(|d| d.eq_ignore_ascii_case(name))
}

/// Whether `path` (under `root`) lies in an excluded folder or is a hidden file, the same rule
/// the scanner applies, for paths reported by the watcher.
pub fn is_excluded_path(path: &Path, root: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(root) else { return true };
    relative.components().any(|c| c.as_os_str().to_str().is_some_and(is_excluded_dir))
}

/// Lists the candidate photos under `root`, sorted by path. Unreadable subfolders are reported
/// in `problems`; an unreadable `root` is an error (the caller keeps that folder's photos).
pub fn scan(root: &Path, problems: &mut Vec<ScanProblem>) -> Result<Vec<ScannedFile>, ScanError> {
    std::fs::read_dir(root).map_err(|source| ScanError::Unavailable { path: root.into(), source })?;
    let walker = WalkDir::new(root).follow_links(false).sort_by_file_name().into_iter().filter_entry(|e| {
        e.depth() == 0 || !e.file_type().is_dir() || !e.file_name().to_str().is_some_and(is_excluded_dir)
    });
    let mut files = Vec::new();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = err.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                problems.push(ScanProblem { path, message: err.to_string() });
                continue;
            }
        };
        let hidden = entry.file_name().to_str().is_some_and(|n| n.starts_with('.'));
        if !entry.file_type().is_file() || hidden || !is_photo_name(entry.path()) {
            continue;
        }
        match entry.metadata() {
            Ok(meta) => files.push(ScannedFile {
                path: entry.into_path(),
                size: meta.len(),
                mtime_ns: meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i64),
            }),
            Err(err) => problems.push(ScanProblem { path: entry.into_path(), message: err.to_string() }),
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn hidden_and_system_folders_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", ".hidden", "@eaDir", "a/#recycle"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
            fs::write(dir.path().join(sub).join("x.jpg"), b"x").unwrap();
        }
        fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        fs::write(dir.path().join("B.JPG"), b"x").unwrap();
        let files = scan(dir.path(), &mut Vec::new()).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.path.strip_prefix(dir.path()).unwrap().to_path_buf()).collect();
        assert_eq!(names, vec![PathBuf::from("B.JPG"), PathBuf::from("a/x.jpg")]);
    }

    #[test]
    fn missing_folder_is_unavailable() {
        assert!(scan(Path::new("/definitely/not/here"), &mut Vec::new()).is_err());
    }
}
