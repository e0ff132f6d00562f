//! The catalog: SQLite, the source of truth. Folders, photos with their metadata and status,
//! and each photo's vector tagged with the id of the model that made it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::{FailureKind, PhotoStatus};
use crate::metadata::PhotoMeta;

mod files;
mod folders;
mod reads;
mod schema;
mod vectors;

pub use schema::SCHEMA_VERSION;
use vectors::vector_bytes;

/// Failure reasons are cut to this many characters: a decoder can explain itself at length.
pub const MAX_REASON_CHARS: usize = 300;

/// Every way the catalog can fail.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The catalog file cannot be opened (or created).
    #[error("cannot open the catalog {path}")]
    Open {
        /// The catalog file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the catalog {path} has schema version {found}, newer than this program understands ({supported}); \
         use a newer Photo Search or another --library"
    )]
    /// A newer program made this catalog: it is left as it is.
    TooNew {
        /// The catalog file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this program understands.
        supported: i64,
    },
    /// A query failed.
    #[error("catalog query failed")]
    Sql(#[source] rusqlite::Error),
    /// The disk is full: nothing more can be written.
    #[error("the disk is full: the catalog cannot grow")]
    DiskFull(#[source] rusqlite::Error),
    /// A path that is not UTF-8 (the catalog stores text).
    #[error("the path {0} is not valid UTF-8 and cannot be stored")]
    NonUtf8Path(PathBuf),
    /// A stored vector of the wrong length.
    #[error("the stored vector of photo {photo_id} is corrupt ({bytes} bytes)")]
    CorruptVector {
        /// The photo.
        photo_id: i64,
        /// The length stored.
        bytes: usize,
    },
}

impl From<rusqlite::Error> for CatalogError {
    fn from(err: rusqlite::Error) -> Self {
        match &err {
            rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull => {
                CatalogError::DiskFull(err)
            }
            _ => CatalogError::Sql(err),
        }
    }
}

type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// A photo folder the library indexes and watches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Folder {
    /// Its catalog id.
    pub id: i64,
    /// Its canonical path.
    pub path: PathBuf,
    /// When it was added (Unix seconds).
    pub added_at: i64,
    /// The folder could not be read at the last scan (an unplugged drive); its photos are kept.
    pub offline: bool,
}

/// What a search result shows of a photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HitRow {
    /// The photo's file.
    pub path: PathBuf,
    /// Unix seconds: EXIF date taken, else the file time.
    pub taken_at: Option<i64>,
    /// Its sampled content hash (names its thumbnail).
    pub content_hash: Option<[u8; 32]>,
}

/// What the catalog knows of a file, enough to decide whether it must be read again.
#[derive(Debug, Clone)]
pub struct KnownFile {
    /// The photo's catalog id.
    pub id: i64,
    /// The size it had when it was read.
    pub size: u64,
    /// The modification time it had (nanoseconds since 1970).
    pub mtime_ns: i64,
    /// Indexed or failed.
    pub status: PhotoStatus,
    /// It has a vector of the model in use.
    pub has_vector: bool,
    /// A failure that may pass (an I/O error, a time limit) whose back-off has run out.
    pub retry_due: bool,
}

/// The file facts the indexer observed for one photo.
#[derive(Debug, Clone)]
pub struct FileFacts {
    /// The library folder it is in.
    pub folder_id: i64,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time (nanoseconds since 1970).
    pub mtime_ns: i64,
}

/// Result of indexing one file, written by [`Catalog::write_batch`].
#[derive(Debug)]
pub enum Outcome {
    /// Read, decoded and encoded.
    Indexed {
        /// The file.
        file: FileFacts,
        /// Its sampled content hash.
        content_hash: [u8; 32],
        /// What its EXIF says.
        meta: PhotoMeta,
        /// Its embedding.
        vector: Vec<f32>,
    },
    /// It could not be indexed.
    Failed {
        /// The file.
        file: FileFacts,
        /// Why.
        failure: FileFailure,
    },
}

/// Why a file could not be indexed, and whether trying again later may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    /// Whether it may pass.
    pub kind: FailureKind,
    /// Why (at most [`MAX_REASON_CHARS`] characters).
    pub reason: String,
}

impl FileFailure {
    /// A failure that may pass: retried on later runs, with back-off.
    pub fn transient(reason: impl Into<String>) -> Self {
        FileFailure { kind: FailureKind::Transient, reason: capped(reason.into()) }
    }

    /// A failure of the file itself: not retried until the file changes.
    pub fn permanent(reason: impl Into<String>) -> Self {
        FileFailure { kind: FailureKind::Permanent, reason: capped(reason.into()) }
    }
}

/// `reason` cut to [`MAX_REASON_CHARS`] characters.
fn capped(reason: String) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        Some((at, _)) => format!("{}…", &reason[..at]),
        None => reason,
    }
}

/// A subfolder that could not be read at the last scan; its photos are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineDir {
    /// The library folder it is in.
    pub folder_id: i64,
    /// The subfolder.
    pub path: PathBuf,
    /// What the system said.
    pub reason: String,
}

/// The vector changes of one model after some point of the change log.
#[derive(Debug, Default)]
pub struct VectorChanges {
    /// The change log's position these changes bring an index to.
    pub up_to: i64,
    /// Each changed photo once, with its vector now (`None`: removed).
    pub changes: Vec<(i64, Option<Vec<f32>>)>,
}

/// Restricts which photos a search may return.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoFilter {
    /// Under this folder (canonical).
    pub folder: Option<PathBuf>,
    /// Unix seconds, inclusive; EXIF date taken, else the file time.
    pub from: Option<i64>,
    /// Unix seconds, inclusive.
    pub to: Option<i64>,
    /// Lower-case format names as stored (`jpeg`, `png`, ...).
    pub formats: Vec<String>,
    /// Months (1-12) of any year the photo was taken in; empty: all.
    pub months: Vec<u8>,
    /// Taken in this town, region or country (any case).
    pub place: Option<String>,
}

impl PhotoFilter {
    /// Nothing is restricted.
    pub fn is_empty(&self) -> bool {
        self.folder.is_none()
            && self.from.is_none()
            && self.to.is_none()
            && self.formats.is_empty()
            && self.months.is_empty()
            && self.place.is_none()
    }

    /// Narrows the filter to `when` as well (date ranges intersect; months replace).
    pub fn narrow_to(&mut self, when: &crate::understand::When) {
        match when {
            crate::understand::When::Range { from, to } => {
                self.from = self.from.max(*from);
                self.to = match (self.to, *to) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            crate::understand::When::Months(months) => self.months = months.clone(),
        }
    }
}

/// The catalog: one SQLite connection (the writer's, or a reader's).
pub struct Catalog {
    conn: Connection,
}

impl Catalog {
    /// Opens (or creates) the catalog for writing, migrating its schema.
    pub fn open(path: &Path) -> Result<Self> {
        let open_err = |source| CatalogError::Open { path: path.to_path_buf(), source };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        schema::migrate(&mut conn, path)?;
        Ok(Catalog { conn })
    }

    /// A second connection to an open catalog, for reads that must not wait for the writer
    /// (status, search): WAL lets it read the last committed state while a write is under way.
    pub fn open_reader(path: &Path) -> Result<Self> {
        let open_err = |source| CatalogError::Open { path: path.to_path_buf(), source };
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(open_err)?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(open_err)?;
        if found != SCHEMA_VERSION {
            return Err(CatalogError::TooNew { path: path.to_path_buf(), found, supported: SCHEMA_VERSION });
        }
        Ok(Catalog { conn })
    }

    /// Folds the write-ahead log into the database file (after a long write), so the catalog
    /// does not keep a log as large as the work just done. Readers in progress may keep part of
    /// it; that is fine.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// The schema version of the catalog file.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// A saved setting (JSON text), or `None` when it was never set.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// Saves a setting (JSON text).
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

/// The half-open range of paths strictly inside folder `dir` (`dir/` up to `dir0`, `0` being
/// the character after `/`): served by the path index, unlike a `substr` or `LIKE` test.
fn prefix_range(dir: &Path) -> Result<(String, String)> {
    let text = path_str(dir)?.trim_end_matches('/');
    Ok((format!("{text}/"), format!("{text}0")))
}

/// A stored content hash, when the column holds one of the right length.
fn hash_of(blob: Option<Vec<u8>>) -> Option<[u8; 32]> {
    blob.and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| CatalogError::NonUtf8Path(path.to_path_buf()))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PhotoCounts;
    use files::known_files_under_sql;

    #[test]
    fn catalog_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite");
        drop(Catalog::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        drop(conn);
        let err = Catalog::open(&path).err().expect("newer schema must be refused");
        assert!(matches!(err, CatalogError::TooNew { found, .. } if found == SCHEMA_VERSION + 1), "{err}");
        assert!(err.to_string().contains("newer than this program understands"));
    }

    #[test]
    fn reopening_keeps_schema_version_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite");
        let catalog = Catalog::open(&path).unwrap();
        catalog.add_folder(Path::new("/photos")).unwrap();
        drop(catalog);
        let catalog = Catalog::open(&path).unwrap();
        assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(catalog.folders().unwrap().len(), 1);
    }

    fn indexed(folder_id: i64, path: &str, vector: Vec<f32>) -> Outcome {
        Outcome::Indexed {
            file: FileFacts { folder_id, path: path.into(), size: 1, mtime_ns: 1 },
            content_hash: [0; 32],
            meta: PhotoMeta::default(),
            vector,
        }
    }

    #[test]
    fn vectors_round_trip_and_every_change_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        let folder = catalog.add_folder(Path::new("/p")).unwrap();
        let before = catalog.last_change().unwrap();
        let ids = catalog.write_batch("m", &[indexed(folder.id, "/p/a.jpg", vec![0.5, -1.0])]).unwrap();
        assert!(catalog.last_change().unwrap() > before);
        assert_eq!(catalog.vector(ids[0], "m").unwrap(), Some(vec![0.5, -1.0]));
        assert_eq!(catalog.vector(ids[0], "other-model").unwrap(), None);

        let after_add = catalog.last_change().unwrap();
        let copy = catalog
            .duplicate_photo(ids[0], &FileFacts { folder_id: folder.id, path: "/p/b.jpg".into(), size: 1, mtime_ns: 1 })
            .unwrap();
        catalog.delete_photos(&[ids[0]]).unwrap();
        let changes = catalog.vector_changes("m", after_add).unwrap().unwrap();
        assert_eq!(changes.up_to, catalog.last_change().unwrap());
        // The deleted photo's vector went with it (a cascade, logged by the trigger); the copy has one.
        assert_eq!(changes.changes, vec![(ids[0], None), (copy, Some(vec![0.5, -1.0]))]);
        assert!(catalog.vector_changes("other-model", after_add).unwrap().unwrap().changes.is_empty());

        catalog.prune_changes("m", changes.up_to).unwrap();
        assert!(catalog.vector_changes("m", after_add).unwrap().is_none(), "older positions are gone");
        assert!(catalog.vector_changes("m", changes.up_to).unwrap().unwrap().changes.is_empty());
    }

    #[test]
    fn counts_follow_inserts_updates_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        let a = catalog.add_folder(Path::new("/a")).unwrap();
        let b = catalog.add_folder(Path::new("/b")).unwrap();
        let ids = catalog
            .write_batch("m", &[indexed(a.id, "/a/1.jpg", vec![1.0]), indexed(b.id, "/b/2.jpg", vec![1.0])])
            .unwrap();
        let failed = Outcome::Failed {
            file: FileFacts { folder_id: a.id, path: "/a/1.jpg".into(), size: 2, mtime_ns: 2 },
            failure: FileFailure::permanent("corrupt"),
        };
        catalog.write_batch("m", &[failed]).unwrap();
        assert_eq!(catalog.counts().unwrap(), PhotoCounts { total: 2, indexed: 1, failed: 1, offline: 0 });
        catalog.set_offline(b.id, true).unwrap();
        assert_eq!(catalog.counts().unwrap().offline, 1);
        catalog.delete_photos(&[ids[1]]).unwrap();
        catalog.remove_folder(a.id).unwrap();
        assert_eq!(catalog.counts().unwrap(), PhotoCounts::default());
    }

    #[test]
    fn photos_under_an_unreadable_subfolder_count_as_offline() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        let a = catalog.add_folder(Path::new("/a")).unwrap();
        catalog
            .write_batch("m", &[indexed(a.id, "/a/x/1.jpg", vec![1.0]), indexed(a.id, "/a/x2/2.jpg", vec![1.0])])
            .unwrap();
        catalog.set_offline_dirs(a.id, &[("/a/x".into(), "Permission denied".into())]).unwrap();
        assert_eq!(catalog.counts().unwrap().offline, 1);
        catalog.set_offline_dirs(a.id, &[]).unwrap();
        assert_eq!(catalog.counts().unwrap().offline, 0);
    }

    #[test]
    fn lookups_under_a_path_use_the_path_index() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {}", known_files_under_sql());
        let mut stmt = catalog.conn.prepare(&sql).unwrap();
        let plan: Vec<String> = stmt
            .query_map(params!["m", 0, 1, "/p/x", "/p/x/", "/p/x0"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let photo_lookups: Vec<&String> = plan.iter().filter(|l| l.contains(" p ")).collect();
        assert_eq!(photo_lookups.len(), 2, "{plan:#?}");
        for line in photo_lookups {
            assert!(line.starts_with("SEARCH p USING INDEX sqlite_autoindex_photos_1 (path"), "{plan:#?}");
        }
    }

    #[test]
    fn failure_reasons_are_capped() {
        let long = "x".repeat(100_000);
        let failure = FileFailure::permanent(long);
        assert_eq!(failure.reason.chars().count(), MAX_REASON_CHARS + 1);
    }

    #[test]
    fn folder_filter_does_not_match_sibling_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        let folder = catalog.add_folder(Path::new("/p")).unwrap();
        let outcomes: Vec<_> = ["/p/a/1.jpg", "/p/ab/2.jpg"]
            .iter()
            .map(|p| Outcome::Indexed {
                file: FileFacts { folder_id: folder.id, path: p.into(), size: 1, mtime_ns: 1 },
                content_hash: [0; 32],
                meta: PhotoMeta::default(),
                vector: vec![1.0],
            })
            .collect();
        let ids = catalog.write_batch("m", &outcomes).unwrap();
        let filter = PhotoFilter { folder: Some("/p/a".into()), ..Default::default() };
        assert_eq!(catalog.filter_ids(&filter).unwrap(), vec![ids[0]]);
    }
}
