//! Preparing one file for the encoder: read it, hash its content, decode it at a reduced
//! scale, write its thumbnail and build the model's input tensor. A file that cannot be
//! prepared yields a [`FileFailure`] (transient or permanent); only a full disk stops a run.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use crate::catalog::FileFailure;
use crate::decode::{self, DecodeError, DecodeLimits, DecodeTarget};
use crate::library::thumbnail_file;
use crate::metadata::PhotoMeta;
use crate::models::ImageSpec;

/// Largest file read into memory; anything bigger is not a photo worth the risk.
const MAX_FILE_BYTES: u64 = 512 << 20;

/// Longer side of stored thumbnails, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;

/// Decodes that outlived their time limit and still run (a decoder that hangs cannot be
/// killed): past this many, new files wait for one of them before starting, so a folder of
/// hostile files cannot pile up a thread each.
const MAX_OVERDUE_DECODES: usize = 4;
static OVERDUE_DECODES: AtomicUsize = AtomicUsize::new(0);

/// A file read, hashed, decoded and preprocessed, ready for the encoder.
pub struct Prepared {
    /// Its sampled content hash.
    pub content_hash: [u8; 32],
    /// What its EXIF says, its size and format.
    pub meta: PhotoMeta,
    /// The encoder's input tensor (channels first).
    pub pixels: Vec<f32>,
}

/// Why a file could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The file cannot be indexed (now or ever): recorded with its reason, the run goes on.
    #[error("{}", .0.reason)]
    File(FileFailure),
    /// No space left to write the thumbnail: the run stops, nothing committed is lost.
    #[error("cannot write {path}: the disk is full")]
    DiskFull {
        /// The thumbnail that could not be written.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

impl PrepareError {
    fn transient(reason: impl Into<String>) -> Self {
        PrepareError::File(FileFailure::transient(reason))
    }

    fn permanent(reason: impl Into<String>) -> Self {
        PrepareError::File(FileFailure::permanent(reason))
    }
}

impl From<decode::PreprocessError> for PrepareError {
    fn from(err: decode::PreprocessError) -> Self {
        PrepareError::permanent(err.to_string())
    }
}

impl From<DecodeError> for PrepareError {
    fn from(err: DecodeError) -> Self {
        // Decoding is deterministic: a file that fails to decode fails again until it changes.
        PrepareError::permanent(err.to_string())
    }
}

/// Whether an I/O error means the disk is full.
pub fn is_disk_full(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::StorageFull || err.raw_os_error() == Some(28)
}

fn read_failure(err: io::Error) -> PrepareError {
    // A read that fails may pass: a network share that hiccups, a drive that wakes up.
    PrepareError::transient(format!("cannot read: {err}"))
}

/// Reads and decodes one file into the encoder's input; with `thumbs_dir`, the same decode
/// also writes the thumbnail (once per content).
pub fn prepare(
    path: &Path,
    spec: &ImageSpec,
    limits: DecodeLimits,
    thumbs_dir: Option<&Path>,
) -> Result<Prepared, PrepareError> {
    let size = std::fs::metadata(path).map_err(read_failure)?.len();
    if size > MAX_FILE_BYTES {
        return Err(PrepareError::permanent(format!("file too large ({size} bytes)")));
    }
    let bytes = std::fs::read(path).map_err(read_failure)?;
    prepare_bytes(bytes, spec, limits, thumbs_dir)
}

/// [`prepare`] for a file already in memory.
pub fn prepare_bytes(
    bytes: Vec<u8>,
    spec: &ImageSpec,
    limits: DecodeLimits,
    thumbs_dir: Option<&Path>,
) -> Result<Prepared, PrepareError> {
    let content_hash = content_hash(&bytes);
    let target = DecodeTarget { min_short_side: spec.size, min_long_side: THUMBNAIL_SIDE };
    let decoded = decode::decode_scaled(&bytes, limits, target)?;
    drop(bytes);
    if let Some(dir) = thumbs_dir {
        write_thumbnail(&decoded.rgb, &thumbnail_file(dir, &content_hash))?;
    }
    let mut pixels = vec![0.0; 3 * spec.size as usize * spec.size as usize];
    decode::model_tensor(&decoded.rgb, spec, &mut pixels)?;
    let (width, height) = decoded.size;
    let exif = decoded.exif;
    let meta = PhotoMeta {
        width: Some(width),
        height: Some(height),
        format: Some(decoded.format.to_string()),
        taken_at: exif.taken_at,
        camera_make: exif.camera_make,
        camera_model: exif.camera_model,
        gps: exif.gps,
        orientation: exif.orientation,
        // Named by the indexing worker: a query image needs no place.
        place: None,
    };
    Ok(Prepared { content_hash, meta, pixels })
}

/// [`prepare`] on its own thread, so that one hostile file costs that file and not the run:
/// a decoder that panics fails just that file (permanently), and one that takes longer than
/// `limits.max_time` fails it for now (the thread is left to finish on its own and its result
/// dropped; at most [`MAX_OVERDUE_DECODES`] such threads run at once).
pub fn prepare_with_time_limit(
    path: &Path,
    spec: &ImageSpec,
    limits: DecodeLimits,
    thumbs_dir: &Path,
) -> Result<Prepared, PrepareError> {
    wait_for_overdue_decodes(limits.max_time)?;
    let (tx, rx) = sync_channel(1);
    let (owned_path, spec, thumbs) = (path.to_path_buf(), spec.clone(), thumbs_dir.to_path_buf());
    // RUNNING, then FINISHED (by the thread) or OVERDUE (by this side), whichever comes first.
    let state = std::sync::Arc::new(AtomicU8::new(RUNNING));
    let thread_state = state.clone();
    let spawned = std::thread::Builder::new().name("decode".into()).spawn(move || {
        // Marks the decode finished even when the decoder panics.
        let _finished = Finished(thread_state);
        let result = prepare(&owned_path, &spec, limits, Some(&thumbs));
        if tx.send(result).is_err() {
            tracing::debug!("{} finished after its time limit; result dropped", owned_path.display());
        }
    });
    if let Err(err) = spawned {
        return Err(PrepareError::transient(format!("cannot start a decode thread: {err}")));
    }
    match rx.recv_timeout(limits.max_time) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => {
            OVERDUE_DECODES.fetch_add(1, Ordering::SeqCst);
            if state.compare_exchange(RUNNING, OVERDUE, Ordering::SeqCst, Ordering::SeqCst).is_err() {
                // It finished just now: not overdue after all.
                OVERDUE_DECODES.fetch_sub(1, Ordering::SeqCst);
                return rx.recv().unwrap_or_else(|_| Err(PrepareError::permanent("the decoder crashed on this file")));
            }
            Err(PrepareError::transient(format!(
                "took longer than {} s to decode; skipped",
                limits.max_time.as_secs_f32()
            )))
        }
        Err(RecvTimeoutError::Disconnected) => Err(PrepareError::permanent("the decoder crashed on this file")),
    }
}

struct Finished(std::sync::Arc<AtomicU8>);

impl Drop for Finished {
    fn drop(&mut self) {
        if self.0.swap(FINISHED, Ordering::SeqCst) == OVERDUE {
            OVERDUE_DECODES.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const OVERDUE: u8 = 2;

/// Decodes still running past their limit.
pub fn overdue_decodes() -> usize {
    OVERDUE_DECODES.load(Ordering::SeqCst)
}

fn wait_for_overdue_decodes(limit: Duration) -> Result<(), PrepareError> {
    let deadline = Instant::now() + limit.max(Duration::from_secs(1));
    while OVERDUE_DECODES.load(Ordering::SeqCst) >= MAX_OVERDUE_DECODES {
        if Instant::now() >= deadline {
            return Err(PrepareError::transient(format!(
                "{MAX_OVERDUE_DECODES} earlier files are still stuck in their decoder; skipped for now"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A thumbnail that cannot be written is a cosmetic loss (logged, the photo is still indexed),
/// unless the disk is full: then the run stops.
fn write_thumbnail(rgb: &image::RgbImage, path: &Path) -> Result<(), PrepareError> {
    if path.is_file() {
        return Ok(());
    }
    let result = decode::thumbnail_jpeg(rgb, THUMBNAIL_SIDE).map_err(io::Error::other).and_then(|jpeg| {
        path.parent().map_or(Ok(()), std::fs::create_dir_all)?;
        crate::fsio::write_atomic(path, &jpeg)
    });
    match result {
        Err(err) if is_disk_full(&err) => Err(PrepareError::DiskFull { path: path.to_path_buf(), source: err }),
        Err(err) => {
            tracing::warn!("cannot write thumbnail {}: {err}", path.display());
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// Bytes hashed from each of the start, middle and end of a file.
const HASH_CHUNK: usize = 64 << 10;

/// BLAKE3 of the size and up to three 64 KiB samples (start, middle, end): identifies a file's
/// content cheaply, so a renamed file can be recognised without hashing all of it.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    let len = bytes.len();
    if len <= 3 * HASH_CHUNK {
        return sampled_hash(len as u64, &[bytes]);
    }
    let mid = len / 2 - HASH_CHUNK / 2;
    sampled_hash(len as u64, &[&bytes[..HASH_CHUNK], &bytes[mid..mid + HASH_CHUNK], &bytes[len - HASH_CHUNK..]])
}

/// [`content_hash`] of a file, reading only the sampled chunks.
pub fn file_content_hash(path: &Path) -> io::Result<[u8; 32]> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    if len <= 3 * HASH_CHUNK {
        let mut bytes = Vec::with_capacity(len);
        file.read_to_end(&mut bytes)?;
        return Ok(content_hash(&bytes));
    }
    let mut chunks = [vec![0u8; HASH_CHUNK], vec![0u8; HASH_CHUNK], vec![0u8; HASH_CHUNK]];
    for (chunk, offset) in chunks.iter_mut().zip([0, len / 2 - HASH_CHUNK / 2, len - HASH_CHUNK]) {
        file.seek(SeekFrom::Start(offset as u64))?;
        file.read_exact(chunk)?;
    }
    Ok(sampled_hash(len as u64, &[&chunks[0], &chunks[1], &chunks[2]]))
}

fn sampled_hash(len: u64, chunks: &[&[u8]]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&len.to_le_bytes());
    for chunk in chunks {
        hasher.update(chunk);
    }
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FailureKind;

    fn failure(result: Result<Prepared, PrepareError>) -> FileFailure {
        match result {
            Err(PrepareError::File(f)) => f,
            Err(other) => panic!("expected a file failure, got {other}"),
            Ok(_) => panic!("expected a failure"),
        }
    }

    #[test]
    fn a_file_over_the_time_limit_fails_alone_and_may_be_retried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        image::RgbImage::new(2000, 2000).save(&path).unwrap();
        let spec = ImageSpec::clip(224);
        let quick = DecodeLimits { max_time: Duration::ZERO, ..Default::default() };
        let failed = failure(prepare_with_time_limit(&path, &spec, quick, dir.path()));
        assert!(failed.reason.starts_with("took longer than"), "{}", failed.reason);
        assert_eq!(failed.kind, FailureKind::Transient);
        assert!(prepare_with_time_limit(&path, &spec, DecodeLimits::default(), dir.path()).is_ok());
    }

    #[test]
    fn a_corrupt_file_is_a_permanent_failure_and_a_missing_one_a_transient_one() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ImageSpec::clip(224);
        let corrupt = dir.path().join("c.jpg");
        std::fs::write(&corrupt, b"\xFF\xD8\xFF\xE0 not really").unwrap();
        assert_eq!(failure(prepare(&corrupt, &spec, DecodeLimits::default(), None)).kind, FailureKind::Permanent);
        let missing = dir.path().join("gone.jpg");
        let failed = failure(prepare(&missing, &spec, DecodeLimits::default(), None));
        assert_eq!(failed.kind, FailureKind::Transient);
        assert!(failed.reason.starts_with("cannot read"), "{}", failed.reason);
    }

    #[test]
    fn sampled_hash_of_a_file_equals_the_hash_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for len in [10usize, 3 * HASH_CHUNK, 3 * HASH_CHUNK + 1, 1 << 20] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let path = dir.path().join(format!("{len}.bin"));
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(file_content_hash(&path).unwrap(), content_hash(&bytes), "length {len}");
        }
    }
}
