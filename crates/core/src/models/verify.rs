//! Checking a model's files against their pinned sizes and sha256, with stamps so that an
//! unchanged file is hashed once.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{FileSpec, ModelError, ModelLocation, Precision, Result};

/// Checks every file of a precision against its pins. `stamps` remembers files already hashed
/// (by size and modification time) so that a start does not re-hash hundreds of megabytes.
pub fn verify(location: &ModelLocation, precision: Precision, stamps: &mut VerifiedStamps) -> Result<()> {
    let manifest = &location.manifest;
    let variant = manifest.variant(precision)?;
    for needed in [&manifest.text.tokenizer, &variant.vision, &variant.text] {
        let path = location.path_of(needed);
        if !path.is_file() {
            return Err(ModelError::Missing { model: manifest.id.clone(), missing: path });
        }
    }
    for spec in manifest.files_for(precision)? {
        verify_file(&location.path_of(&spec.path), spec, stamps)?;
    }
    Ok(())
}

/// Checks every file of a model's query encoder against its pins.
pub fn verify_query_encoder(location: &ModelLocation, id: &str, stamps: &mut VerifiedStamps) -> Result<()> {
    let manifest = &location.manifest;
    let encoder = manifest.query_encoder(id)?;
    for needed in [&encoder.text.tokenizer, &encoder.graph].into_iter().chain(encoder.text.projection.iter()) {
        let path = location.path_of(needed);
        if !path.is_file() {
            return Err(ModelError::Missing { model: manifest.id.clone(), missing: path });
        }
    }
    for spec in &encoder.files {
        verify_file(&location.path_of(&spec.path), spec, stamps)?;
    }
    Ok(())
}

/// Checks one file against its pinned size and sha256 (once per change of the file).
pub fn verify_file(path: &Path, spec: &FileSpec, stamps: &mut VerifiedStamps) -> Result<()> {
    let meta = fs::metadata(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ModelError::FileMissing(path.into()),
        _ => ModelError::ReadFile { path: path.into(), source },
    })?;
    if let Some(expected) = spec.bytes
        && meta.len() != expected
    {
        return Err(ModelError::SizeMismatch { path: path.into(), expected, actual: meta.len() });
    }
    let Some(expected) = &spec.sha256 else { return Err(ModelError::Unpinned { path: path.into() }) };
    let expected = expected.to_ascii_lowercase();
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos());
    let stamp = Stamp { bytes: meta.len(), mtime_ns: mtime.unwrap_or(0), sha256: expected.clone() };
    if mtime.is_some() && stamps.entries.get(path).is_some_and(|s| *s == stamp) {
        return Ok(());
    }
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(ModelError::ChecksumMismatch { path: path.into(), expected, actual });
    }
    stamps.entries.insert(path.to_path_buf(), stamp);
    stamps.changed = true;
    Ok(())
}

/// The sha256 of a file, in hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let read_err = |source| ModelError::ReadFile { path: path.into(), source };
    let mut file = fs::File::open(path).map_err(read_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Bytes in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    bytes: u64,
    mtime_ns: u128,
    sha256: String,
}

/// Files whose checksum was verified, kept in the library cache.
#[derive(Debug, Default)]
pub struct VerifiedStamps {
    entries: BTreeMap<PathBuf, Stamp>,
    changed: bool,
}

impl VerifiedStamps {
    /// The stamps saved at `path` (none when it is missing or unreadable).
    pub fn load(path: &Path) -> Self {
        let entries = fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        VerifiedStamps { entries, changed: false }
    }

    /// Saves when something was verified; a failure only costs a re-hash next time.
    pub fn save(&self, path: &Path) {
        if !self.changed {
            return;
        }
        let result = serde_json::to_vec(&self.entries)
            .map_err(io::Error::other)
            .and_then(|bytes| crate::fsio::write_atomic(path, &bytes));
        if let Err(err) = result {
            tracing::warn!("cannot save checksum stamps {}: {err}", path.display());
        }
    }
}
