//! Walking photo folders: which files are candidate photos, skipping hidden and system folders.
//! Knows nothing of the catalog.

use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use glob::Pattern;
use walkdir::WalkDir;

/// Extensions of files worth trying to decode. The content decides the format; a valid JPEG
/// named `.png` is still indexed.
pub const PHOTO_EXTENSIONS: &[&str] =
    &["jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "tif", "tiff", "bmp", "heic", "heif", "avif"];

/// Names skipped by default: NAS thumbnails, recycle bins, snapshots. Hidden names (a leading
/// dot) are skipped as well.
pub const DEFAULT_EXCLUDED_DIRS: &[&str] =
    &["@eaDir", "#recycle", "$RECYCLE.BIN", "#snapshot", "System Volume Information"];

/// Why a folder cannot be walked.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
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
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time (nanoseconds since 1970).
    pub mtime_ns: i64,
}

impl ScannedFile {
    /// The facts of `path` from its metadata.
    pub fn new(path: PathBuf, meta: &std::fs::Metadata) -> Self {
        let mtime_ns =
            meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i64);
        ScannedFile { path, size: meta.len(), mtime_ns }
    }
}

/// A part of the tree that could not be read; the rest of the walk goes on.
#[derive(Debug)]
pub struct ScanProblem {
    /// The part that could not be read.
    pub path: PathBuf,
    /// What the system said.
    pub message: String,
}

/// Whether a file is worth trying to decode: a photo extension, or a RAW one when no JPEG of the
/// same name lies beside it (a RAW+JPEG pair is one photo: the JPEG is indexed).
pub fn is_photo_name(path: &Path) -> bool {
    let Some(extension) = path.extension().and_then(|e| e.to_str()) else { return false };
    if PHOTO_EXTENSIONS.iter().any(|p| p.eq_ignore_ascii_case(extension)) {
        return true;
    }
    crate::raw::RAW_EXTENSIONS.iter().any(|r| r.eq_ignore_ascii_case(extension)) && !has_jpeg_sibling(path)
}

fn has_jpeg_sibling(path: &Path) -> bool {
    ["jpg", "JPG", "jpeg", "JPEG"].iter().any(|e| path.with_extension(e).is_file())
}

/// What indexing skips, for the scanner and the watcher alike: hidden names (a leading dot)
/// always, plus every file or folder whose name matches a pattern. Patterns are names with `*`
/// and `?` wildcards (`@eaDir`, `*.tmp`, `Screenshot*`; `?` is one character, `é` included, and
/// `[…]` a set of them), matched by the `glob` crate without regard to case. A pattern that is
/// not a valid glob (`[draft`) is taken literally. (`globset` matches bytes: its `?` would not
/// match an `é`.)
#[derive(Debug, Clone)]
pub struct Excludes {
    patterns: Vec<String>,
    compiled: Vec<Pattern>,
}

impl PartialEq for Excludes {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for Excludes {}

impl Default for Excludes {
    fn default() -> Self {
        Excludes::from_patterns(DEFAULT_EXCLUDED_DIRS.iter().map(|p| p.to_lowercase()).collect())
    }
}

impl Excludes {
    fn from_patterns(patterns: Vec<String>) -> Self {
        let compiled = patterns
            .iter()
            .map(|p| Pattern::new(p).or_else(|_| Pattern::new(&Pattern::escape(p))))
            .filter_map(|compiled| compiled.inspect_err(|err| tracing::warn!("an exclude pattern: {err}")).ok())
            .collect();
        Excludes { patterns, compiled }
    }

    /// The defaults plus `extra` patterns.
    pub fn with(extra: &[String]) -> Self {
        Excludes::default().with_more(extra)
    }

    /// These patterns plus `extra` ones.
    pub fn with_more(&self, extra: &[String]) -> Self {
        let mut patterns = self.patterns.clone();
        for pattern in extra.iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()) {
            if !patterns.contains(&pattern) {
                patterns.push(pattern);
            }
        }
        Excludes::from_patterns(patterns)
    }

    /// The patterns, lower-case, the defaults first.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether a file or folder of this name is skipped.
    pub fn excludes_name(&self, name: &str) -> bool {
        let lower = name.to_lowercase();
        name.starts_with('.') || self.compiled.iter().any(|p| p.matches(&lower))
    }

    /// Whether any part of `path` below `root` is excluded (paths outside `root` are).
    pub fn excludes_path(&self, path: &Path, root: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(root) else { return true };
        relative.components().any(|c| c.as_os_str().to_str().is_some_and(|n| self.excludes_name(n)))
    }
}

/// Lists the candidate photos under `root`, sorted by path. Unreadable subfolders are reported
/// in `problems`; an unreadable `root` is an error (the caller keeps that folder's photos).
pub fn scan(root: &Path, excludes: &Excludes, problems: &mut Vec<ScanProblem>) -> Result<Vec<ScannedFile>, ScanError> {
    std::fs::read_dir(root).map_err(|source| ScanError::Unavailable { path: root.into(), source })?;
    let walker = WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_str().is_some_and(|n| excludes.excludes_name(n)));
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
        if !entry.file_type().is_file() || !is_photo_name(entry.path()) {
            continue;
        }
        match entry.metadata() {
            Ok(meta) => files.push(ScannedFile::new(entry.into_path(), &meta)),
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
        let files = scan(dir.path(), &Excludes::default(), &mut Vec::new()).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.path.strip_prefix(dir.path()).unwrap().to_path_buf()).collect();
        assert_eq!(names, vec![PathBuf::from("B.JPG"), PathBuf::from("a/x.jpg")]);
    }

    #[test]
    fn missing_folder_is_unavailable() {
        assert!(scan(Path::new("/definitely/not/here"), &Excludes::default(), &mut Vec::new()).is_err());
    }

    #[test]
    fn exclude_patterns_match_names_with_wildcards() {
        let excludes = Excludes::with(&["Screenshot*".into(), "*.tmp.jpg".into(), "raw?".into()]);
        for name in ["@eaDir", "#RECYCLE", ".hidden", "screenshot 2024.png", "a.TMP.jpg", "raw1"] {
            assert!(excludes.excludes_name(name), "{name}");
        }
        // `?` is one character, not one byte.
        let accents = Excludes::with(&["r?sum?".into(), "[draft".into()]);
        assert!(accents.excludes_name("Résumé"), "{:?}", accents.patterns());
        assert!(accents.excludes_name("[Draft"), "{:?}", accents.patterns());
        assert!(!accents.excludes_name("draft"));
        for name in ["photo.jpg", "my screenshot.png", "raw12", "a.tmp.jpeg"] {
            assert!(!excludes.excludes_name(name), "{name}");
        }
        let root = Path::new("/p");
        assert!(excludes.excludes_path(Path::new("/p/Screenshots/x.jpg"), root));
        assert!(!excludes.excludes_path(Path::new("/p/trip/x.jpg"), root));
    }
}
