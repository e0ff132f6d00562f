//! Downloading model files: resumable (HTTP Range into a `.part` file), checked against the
//! manifest's size and sha256, and renamed into place only when they match.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::models::{FileSpec, hex};

/// Why a model download failed.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{path} has no download URL and is not bundled with this program")]
    NoUrl { path: PathBuf },
    #[error("{path} is not pinned (no sha256 in the manifest): refusing to download unverified weights")]
    Unpinned { path: PathBuf },
    #[error(
        "cannot reach {url} (check the internet connection, or use --model DIR with a model folder on this computer)"
    )]
    Unreachable {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("downloading {url} failed with HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("downloading {url} failed")]
    Transfer {
        url: String,
        #[source]
        source: io::Error,
    },
    #[error("downloaded {path} has sha256 {actual}, expected {expected}; the partial file was deleted, try again")]
    ChecksumMismatch { path: PathBuf, expected: String, actual: String },
    #[error("downloaded {path} is {actual} bytes, expected {expected}")]
    SizeMismatch { path: PathBuf, expected: u64, actual: u64 },
    #[error("download cancelled (what was received is kept and resumed next time)")]
    Cancelled,
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Bytes so far of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadProgress {
    /// Bytes received so far (of every file).
    pub done: u64,
    /// Bytes in all, when known.
    pub total: Option<u64>,
}

fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build();
    ureq::Agent::new_with_config(config)
}

/// Downloads `spec` to `dest`, resuming a previous `dest.part`. `progress` is called as bytes
/// arrive; it returns `false` to cancel (the partial file is kept, to resume later). On success
/// `dest` holds exactly the pinned bytes; on a checksum failure the partial file is deleted and
/// `dest` is untouched.
pub fn fetch_file(
    spec: &FileSpec,
    dest: &Path,
    progress: &mut dyn FnMut(DownloadProgress) -> bool,
) -> Result<(), DownloadError> {
    let url = spec.url.as_deref().ok_or_else(|| DownloadError::NoUrl { path: spec.path.clone() })?;
    let expected_sha = spec.sha256.as_deref().ok_or_else(|| DownloadError::Unpinned { path: spec.path.clone() })?;
    let part = part_path(dest);
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DownloadError::Write { path, source }
    };
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(write_err(parent))?;
    }

    let mut hasher = Sha256::new();
    let mut have = hash_existing(&part, &mut hasher).map_err(write_err(&part))?;
    if spec.bytes.is_some_and(|total| have > total) {
        fs::remove_file(&part).map_err(write_err(&part))?;
        hasher = Sha256::new();
        have = 0;
    }
    if spec.bytes != Some(have) {
        let mut request = agent().get(url);
        if have > 0 {
            request = request.header("Range", &format!("bytes={have}-"));
        }
        let mut response = request
            .call()
            .map_err(|source| DownloadError::Unreachable { url: url.into(), source: Box::new(source) })?;
        let status = response.status().as_u16();
        let append = match status {
            206 if have > 0 => true,
            200 => {
                // The server ignored the range: start over.
                hasher = Sha256::new();
                have = 0;
                false
            }
            _ => return Err(DownloadError::Status { url: url.into(), status }),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&part)
            .map_err(write_err(&part))?;
        let total = spec.bytes;
        if !progress(DownloadProgress { done: have, total }) {
            return Err(DownloadError::Cancelled);
        }
        let mut reader = response.body_mut().as_reader();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf).map_err(|source| DownloadError::Transfer { url: url.into(), source })?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).map_err(write_err(&part))?;
            hasher.update(&buf[..n]);
            have += n as u64;
            if !progress(DownloadProgress { done: have, total }) {
                file.sync_all().map_err(write_err(&part))?;
                return Err(DownloadError::Cancelled);
            }
        }
        file.sync_all().map_err(write_err(&part))?;
    }

    let actual = hex(&hasher.finalize());
    if let Some(expected) = spec.bytes.filter(|b| *b != have) {
        if have > expected {
            fs::remove_file(&part).map_err(write_err(&part))?;
        }
        return Err(DownloadError::SizeMismatch { path: dest.into(), expected, actual: have });
    }
    if !actual.eq_ignore_ascii_case(expected_sha) {
        fs::remove_file(&part).map_err(write_err(&part))?;
        return Err(DownloadError::ChecksumMismatch { path: dest.into(), expected: expected_sha.into(), actual });
    }
    fs::rename(&part, dest).map_err(write_err(dest))?;
    crate::fsio::sync_parent(dest).map_err(write_err(dest))
}

/// Where a download of `dest` is kept while it runs (resumed from there).
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

fn hash_existing(part: &Path, hasher: &mut Sha256) -> io::Result<u64> {
    let mut file = match File::open(part) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}
