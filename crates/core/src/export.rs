//! Copying a set of results into a folder: each file once, never overwriting another file of the
//! same name (the copy gets " (2)" and so on), a file already there with the same bytes counted
//! as done, and a file that cannot be copied reported with its reason while the rest go on.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Why an export cannot start.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot use {path} as the export folder")]
    Folder {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Files copied, as named in the folder.
    pub copied: Vec<PathBuf>,
    /// Files already in the folder with the same bytes.
    pub already_there: usize,
    /// Files that could not be copied, with why.
    pub failed: Vec<(PathBuf, String)>,
}

/// Copies `files` into `folder` (made if missing), calling `progress(done, total, file)` after
/// each.
pub fn export(
    files: &[PathBuf],
    folder: &Path,
    progress: &mut dyn FnMut(usize, usize, &Path),
) -> Result<ExportSummary, ExportError> {
    fs::create_dir_all(folder).map_err(|source| ExportError::Folder { path: folder.into(), source })?;
    let mut summary = ExportSummary::default();
    for (i, file) in files.iter().enumerate() {
        match copy_one(file, folder) {
            Ok(Some(dest)) => summary.copied.push(dest),
            Ok(None) => summary.already_there += 1,
            Err(err) => summary.failed.push((file.clone(), err.to_string())),
        }
        progress(i + 1, files.len(), file);
    }
    Ok(summary)
}

/// Copies one file under a free name; `None` when a file of that name already has its bytes.
fn copy_one(file: &Path, folder: &Path) -> io::Result<Option<PathBuf>> {
    let name = file.file_name().ok_or_else(|| io::Error::other("not a file name"))?;
    let (stem, extension) = match (Path::new(name).file_stem(), Path::new(name).extension()) {
        (Some(stem), Some(ext)) => (stem.to_string_lossy().into_owned(), format!(".{}", ext.to_string_lossy())),
        _ => (name.to_string_lossy().into_owned(), String::new()),
    };
    let source_len = fs::metadata(file)?.len();
    for n in 1..10_000 {
        let candidate = if n == 1 { folder.join(name) } else { folder.join(format!("{stem} ({n}){extension}")) };
        match fs::metadata(&candidate) {
            Ok(meta) if meta.len() == source_len && same_bytes(file, &candidate)? => return Ok(None),
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let partial = crate::fsio::temp_sibling(&candidate);
                fs::copy(file, &partial).inspect_err(|_| remove_temporary(&partial))?;
                // A name taken meanwhile is not overwritten: hard-link, then drop the temporary.
                let linked = fs::hard_link(&partial, &candidate);
                remove_temporary(&partial);
                match linked {
                    Ok(()) => return Ok(Some(candidate)),
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(err) => return Err(err),
                }
            }
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::other("no free name in the export folder"))
}

fn remove_temporary(path: &Path) {
    if let Err(err) = fs::remove_file(path)
        && err.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!("cannot remove the temporary copy {}: {err}", path.display());
    }
}

fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    Ok(fs::read(a)? == fs::read(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_copied_once_and_names_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(a.join("beach.jpg"), b"first").unwrap();
        fs::write(b.join("beach.jpg"), b"second").unwrap();
        let files = vec![a.join("beach.jpg"), b.join("beach.jpg"), a.join("gone.jpg")];
        let out = dir.path().join("out");
        let mut seen = Vec::new();
        let summary = export(&files, &out, &mut |done, total, _| seen.push((done, total))).unwrap();
        assert_eq!(summary.copied, vec![out.join("beach.jpg"), out.join("beach (2).jpg")]);
        assert_eq!(fs::read(out.join("beach (2).jpg")).unwrap(), b"second");
        assert_eq!(summary.failed.len(), 1, "the missing file fails alone");
        assert_eq!(seen, vec![(1, 3), (2, 3), (3, 3)]);
        // Again: everything is there already, nothing is copied twice.
        let again = export(&files[..2], &out, &mut |_, _, _| {}).unwrap();
        assert_eq!((again.copied.len(), again.already_there), (0, 2));
        assert_eq!(fs::read_dir(&out).unwrap().count(), 2);
    }
}
