//! Types that cross to the user interfaces (CLI, desktop app, HTTP): declared once, here.

use std::path::PathBuf;

use serde::Serialize;

/// One search result. Results come best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub id: i64,
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
    pub id: i64,
    pub path: PathBuf,
    pub size: u64,
    pub format: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Unix seconds: EXIF date taken, else the file time.
    pub taken_at: Option<i64>,
    pub camera_make: Option<String>,
    pub camera_model: Option<String>,
    /// The stored thumbnail file, when there is one.
    pub thumbnail: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoStatus {
    Indexed,
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PhotoCounts {
    pub total: u64,
    pub indexed: u64,
    pub failed: u64,
    /// Photos in folders or subfolders that could not be read at the last scan (kept, not
    /// deleted).
    pub offline: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedPhoto {
    pub path: PathBuf,
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
    pub unchanged: u64,
    pub failed: u64,
    pub removed: u64,
}

/// Progress of an indexing job, in the order events happen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    /// Walking a folder.
    Scanning {
        folder: PathBuf,
    },
    /// A folder that cannot be read right now; its photos are kept.
    FolderUnavailable {
        folder: PathBuf,
        reason: String,
    },
    /// The OS cannot watch this folder (watch limit reached): it is polled instead.
    Polling {
        folder: PathBuf,
        reason: String,
    },
    /// The work is known: `queued` files need reading, `unchanged` do not.
    Planned {
        queued: u64,
        unchanged: u64,
    },
    /// One file finished (indexed or failed). `rate` is files per second so far; `eta_s` the
    /// estimated seconds left.
    File {
        done: u64,
        queued: u64,
        path: PathBuf,
        failed: Option<String>,
        rate: f64,
        eta_s: Option<u64>,
    },
    /// The job was paused or resumed.
    Paused {
        paused: bool,
    },
    /// The job was cancelled; what was finished is kept.
    Cancelled {
        summary: IndexSummary,
    },
    Finished {
        summary: IndexSummary,
    },
}

/// State of the model in use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelStatus {
    pub id: String,
    pub name: String,
    pub precision: String,
    /// The query encoder text queries go through, when not the model's own text tower.
    pub query_encoder: Option<String>,
    pub dir: PathBuf,
    /// `None` when the model is ready; otherwise why it cannot be used.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexStatus {
    pub vectors: u64,
    pub file_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub library: PathBuf,
    pub photos: PhotoCounts,
    pub folders: Vec<PathBuf>,
    pub model: ModelStatus,
    /// The model the library is switching to (its id), while its photos are embedded with it.
    pub switching_to: Option<String>,
    /// The execution provider the encoders actually run on (`CPU`, `CUDA`, `DirectML`), or
    /// `None` when ONNX Runtime could not be loaded (see `runtime_problem`).
    pub provider: Option<String>,
    pub runtime_problem: Option<String>,
    pub index: IndexStatus,
}
