//! Types that cross to the user interfaces (CLI, desktop app, HTTP): declared once, here.

use std::path::PathBuf;

use serde::Serialize;

/// One search result. Results come best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// The photo's catalog id (its key in the vector index).
    pub id: i64,
    /// Where the photo's file is.
    pub path: PathBuf,
    /// Cosine similarity to the query, higher is closer.
    pub score: f32,
    /// Unix seconds: EXIF date taken, else the file time.
    pub taken_at: Option<i64>,
    /// Where its thumbnail is stored (the file may be missing for photos that failed).
    pub thumbnail: Option<PathBuf>,
}

/// What the catalog knows of one photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhotoRecord {
    /// The photo's catalog id.
    pub id: i64,
    /// Where the photo's file is.
    pub path: PathBuf,
    /// The file's size in bytes.
    pub size: u64,
    /// The format its content was decoded as (`jpeg`, `heic`, `nef`, ...).
    pub format: Option<String>,
    /// Upright width in pixels (after the EXIF orientation).
    pub width: Option<u32>,
    /// Upright height in pixels.
    pub height: Option<u32>,
    /// Unix seconds: EXIF date taken, else the file time.
    pub taken_at: Option<i64>,
    /// The camera's maker, from EXIF.
    pub camera_make: Option<String>,
    /// The camera's model, from EXIF.
    pub camera_model: Option<String>,
    /// The stored thumbnail file, when there is one.
    pub thumbnail: Option<PathBuf>,
}

/// Where a photo of the catalog stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoStatus {
    /// Its vector is in the catalog (and the index).
    Indexed,
    /// It could not be indexed; the catalog keeps the reason.
    Failed,
}

/// Whether a failed file is worth trying again before it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// It may pass (an I/O error, a time limit, an encoder error): retried on later runs, with
    /// back-off.
    Transient,
    /// The file itself is the problem (corrupt, unsupported, too large): tried again only once
    /// it changes.
    Permanent,
}

/// How many photos the catalog holds, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PhotoCounts {
    /// Every photo file the catalog knows.
    pub total: u64,
    /// Photos with a vector: searchable.
    pub indexed: u64,
    /// Photos that could not be indexed.
    pub failed: u64,
    /// Photos in folders or subfolders that could not be read at the last scan (kept, not
    /// deleted).
    pub offline: u64,
}

/// A file that could not be indexed, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedPhoto {
    /// The file.
    pub path: PathBuf,
    /// Why it failed (at most 300 characters).
    pub reason: String,
}

/// What an `index` run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IndexSummary {
    /// Files read, decoded and encoded.
    pub indexed: u64,
    /// Files moved or renamed: recognised by content, kept their vectors (no encoding).
    pub moved: u64,
    /// Byte-identical copies of indexed photos: vectors copied, not encoded.
    pub duplicates: u64,
    /// Files already indexed and unchanged: not opened.
    pub unchanged: u64,
    /// Files that could not be indexed this run.
    pub failed: u64,
    /// Photos gone from disk: removed from the catalog and the index.
    pub removed: u64,
}

/// Progress of an indexing job, in the order events happen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    /// Walking a folder.
    Scanning {
        /// The folder being walked.
        folder: PathBuf,
    },
    /// A folder that cannot be read right now; its photos are kept.
    FolderUnavailable {
        /// The folder.
        folder: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// The OS cannot watch this folder (watch limit reached): it is polled instead.
    Polling {
        /// The folder.
        folder: PathBuf,
        /// Why it cannot be watched.
        reason: String,
    },
    /// The work is known: `queued` files need reading, `unchanged` do not.
    Planned {
        /// Files to read, decode and encode.
        queued: u64,
        /// Files already indexed and unchanged.
        unchanged: u64,
    },
    /// One file finished (indexed or failed). `rate` is files per second so far; `eta_s` the
    /// estimated seconds left.
    File {
        /// Files finished so far.
        done: u64,
        /// Files this job reads in all.
        queued: u64,
        /// The file that finished.
        path: PathBuf,
        /// Why it failed, when it did.
        failed: Option<String>,
        /// Files per second so far.
        rate: f64,
        /// Seconds left, estimated from the rate.
        eta_s: Option<u64>,
    },
    /// The job was paused or resumed.
    Paused {
        /// Paused now (else resumed).
        paused: bool,
    },
    /// The job was cancelled; what was finished is kept.
    Cancelled {
        /// What was done before the cancel.
        summary: IndexSummary,
    },
    /// The job is done.
    Finished {
        /// What it did.
        summary: IndexSummary,
    },
}

/// State of the model in use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelStatus {
    /// The model's id (`clip-vit-base-patch32`, ...).
    pub id: String,
    /// Its name as people read it.
    pub name: String,
    /// The precision its encoders run at (`fp32`, `fp16`, `int8`).
    pub precision: String,
    /// The query encoder text queries go through, when not the model's own text tower.
    pub query_encoder: Option<String>,
    /// The folder its files are in.
    pub dir: PathBuf,
    /// `None` when the model is ready; otherwise why it cannot be used.
    pub problem: Option<String>,
}

/// The vector index of the model in use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexStatus {
    /// Vectors it holds.
    pub vectors: u64,
    /// Size of its saved file (0 before the first save).
    pub file_bytes: u64,
}

/// The library at a glance: what `photo-search status` prints and the app's status builds on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The library's folder.
    pub library: PathBuf,
    /// Its photos, by state.
    pub photos: PhotoCounts,
    /// The photo folders it indexes and watches.
    pub folders: Vec<PathBuf>,
    /// The model searches use.
    pub model: ModelStatus,
    /// The model the library is switching to (its id), while its photos are embedded with it.
    pub switching_to: Option<String>,
    /// The execution provider the encoders actually run on (`CPU`, `CUDA`, `DirectML`), or
    /// `None` when ONNX Runtime could not be loaded (see `runtime_problem`).
    pub provider: Option<String>,
    /// Why the GPU this runtime could use does not run the encoders (`CUDA: no CUDA-capable
    /// device is detected`), when it does not.
    pub gpu_problem: Option<String>,
    /// Why ONNX Runtime could not be loaded, when it could not.
    pub runtime_problem: Option<String>,
    /// The vector index.
    pub index: IndexStatus,
}
