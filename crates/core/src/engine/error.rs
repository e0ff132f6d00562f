//! Every way an engine operation can fail, and the kind of each failure the shells act on.

use std::path::PathBuf;

use crate::catalog::CatalogError;
use crate::download::DownloadError;
use crate::encoder::EncoderError;
use crate::index::IndexError;
use crate::indexer::IndexerError;
use crate::library::LibraryError;
use crate::models::ModelError;
use crate::query::QueryError;
use crate::runtime::RuntimeError;
use crate::watch::WatchError;

/// Every way an engine operation can fail.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("photo {0} is not in the library")]
    UnknownPhoto(i64),
    #[error("folder {0} is not in the library")]
    UnknownFolder(PathBuf),
    #[error("folder {path} cannot be used")]
    BadFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use {path} as a query image: {reason}")]
    QueryImage { path: PathBuf, reason: String },
    #[error("the library was opened read-only")]
    ReadOnly,
    #[error("{what}")]
    DiskFull { what: String },
    #[error("cannot record the library's model in {path}")]
    RecordModel {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is the model this library searches with: choose another first (`photo-search models use`)")]
    ModelInUse(String),
}

impl From<IndexerError> for Error {
    fn from(e: IndexerError) -> Self {
        let e = e.or_disk_full();
        if matches!(e, IndexerError::DiskFull { .. }) {
            return Error::DiskFull { what: e.to_string() };
        }
        match e {
            IndexerError::Catalog(e) => Error::Catalog(e),
            IndexerError::Index(e) => Error::Index(e),
            IndexerError::Encoder(e) | IndexerError::GpuFailed(e) => Error::Encoder(e),
            IndexerError::DiskFull { what } => Error::DiskFull { what },
        }
    }
}

/// What kind of failure, for interfaces that react to it (offer a download, explain an install):
/// the one list the core, the service and the UI (through the generated bindings) share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The model's files are not there: offer the download.
    ModelMissing,
    /// The model's files are there but wrong (size, checksum, interface).
    ModelInvalid,
    /// ONNX Runtime cannot be loaded: explain the install.
    RuntimeMissing,
    /// Another process writes this library.
    LibraryInUse,
    /// The request itself is wrong (a query, a path, a setting).
    BadRequest,
    /// No such photo, folder or model.
    NotFound,
    /// The folder or file is on a drive that is not there now.
    Offline,
    /// The disk is full.
    DiskFull,
    /// A request without the token a non-loopback server requires.
    Unauthorized,
    /// Anything else: a bug or the system failing.
    Internal,
}

impl Error {
    /// What kind of failure this is, for an interface to act on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Model(ModelError::Missing { .. } | ModelError::FileMissing(_)) => ErrorKind::ModelMissing,
            Error::Model(ModelError::Unknown(_)) => ErrorKind::NotFound,
            Error::Model(ModelError::UnknownQueryEncoder { .. }) => ErrorKind::BadRequest,
            Error::Model(_) | Error::Encoder(EncoderError::Interface { .. } | EncoderError::Load { .. }) => {
                ErrorKind::ModelInvalid
            }
            Error::Runtime(_) => ErrorKind::RuntimeMissing,
            Error::Library(LibraryError::InUse { .. }) => ErrorKind::LibraryInUse,
            Error::Query(_)
            | Error::QueryImage { .. }
            | Error::BadFolder { .. }
            | Error::ReadOnly
            | Error::ModelInUse(_) => ErrorKind::BadRequest,
            Error::UnknownPhoto(_) | Error::UnknownFolder(_) => ErrorKind::NotFound,
            Error::Download(DownloadError::Unreachable { .. }) => ErrorKind::Offline,
            Error::DiskFull { .. } | Error::Catalog(CatalogError::DiskFull(_)) => ErrorKind::DiskFull,
            _ => ErrorKind::Internal,
        }
    }
}

/// An engine operation's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
