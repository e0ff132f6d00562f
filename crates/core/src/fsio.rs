//! Crash-safe file replacement: write a temporary sibling, flush it to disk, rename over.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary sibling used while `path` is being replaced.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees the old or the new content,
/// never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        // Best effort: the temp file is garbage either way, and the original error is what matters.
        if let Err(err) = fs::remove_file(&tmp) {
            tracing::debug!("cannot remove {}: {err}", tmp.display());
        }
    }
    result
}

/// Makes a rename in `path`'s folder durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}
