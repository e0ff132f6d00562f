//! The catalog: SQLite, the source of truth. Folders, photos with their metadata and status,
//! and each photo's vector tagged with the id of the model that made it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use crate::api::{FailedPhoto, FailureKind, PhotoCounts, PhotoStatus};
use crate::metadata::PhotoMeta;

mod schema;
mod vectors;

pub use schema::SCHEMA_VERSION;
use vectors::vector_bytes;

/// Failure reasons are cut to this many characters: a decoder can explain itself at length.
pub const MAX_REASON_CHARS: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot open the catalog {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the catalog {path} has schema version {found}, newer than this program understands ({supported}); \
         use a newer Photo Search or another --library"
    )]
    TooNew { path: PathBuf, found: i64, supported: i64 },
    #[error("catalog query failed")]
    Sql(#[source] rusqlite::Error),
    #[error("the disk is full: the catalog cannot grow")]
    DiskFull(#[source] rusqlite::Error),
    #[error("the path {0} is not valid UTF-8 and cannot be stored")]
    NonUtf8Path(PathBuf),
    #[error("the stored vector of photo {photo_id} is corrupt ({bytes} bytes)")]
    CorruptVector { photo_id: i64, bytes: usize },
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Folder {
    pub id: i64,
    pub path: PathBuf,
    pub added_at: i64,
    /// The folder could not be read at the last scan (an unplugged drive); its photos are kept.
    pub offline: bool,
}

/// What a search result shows of a photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HitRow {
    pub path: PathBuf,
    /// Unix seconds: EXIF date taken, else the file time.
    pub taken_at: Option<i64>,
    pub content_hash: Option<[u8; 32]>,
}

/// What the catalog knows of a file, enough to decide whether it must be read again.
#[derive(Debug, Clone)]
pub struct KnownFile {
    pub id: i64,
    pub size: u64,
    pub mtime_ns: i64,
    pub status: PhotoStatus,
    pub has_vector: bool,
    /// A failure that may pass (an I/O error, a time limit) whose back-off has run out.
    pub retry_due: bool,
}

/// The file facts the indexer observed for one photo.
#[derive(Debug, Clone)]
pub struct FileFacts {
    pub folder_id: i64,
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
}

/// Result of indexing one file, written by [`Catalog::write_batch`].
#[derive(Debug)]
pub enum Outcome {
    Indexed { file: FileFacts, content_hash: [u8; 32], meta: PhotoMeta, vector: Vec<f32> },
    Failed { file: FileFacts, failure: FileFailure },
}

/// Why a file could not be indexed, and whether trying again later may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    pub kind: FailureKind,
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
    pub folder_id: i64,
    pub path: PathBuf,
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
    pub folder: Option<PathBuf>,
    /// Unix seconds, inclusive; EXIF date taken, else the file time.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Lower-case format names as stored (`jpeg`, `png`, ...).
    pub formats: Vec<String>,
    /// Months (1-12) of any year the photo was taken in; empty: all.
    pub months: Vec<u8>,
    /// Taken in this town, region or country (any case).
    pub place: Option<String>,
}

impl PhotoFilter {
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

pub struct Catalog {
    conn: Connection,
}

impl Catalog {
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

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Adds a folder, or returns the one already there.
    pub fn add_folder(&self, path: &Path) -> Result<Folder> {
        let text = path_str(path)?;
        Ok(self.conn.query_row(
            "INSERT INTO folders (path, added_at) VALUES (?1, ?2)
             ON CONFLICT(path) DO UPDATE SET path = excluded.path
             RETURNING id, path, added_at, offline",
            params![text, now_unix()],
            folder_row,
        )?)
    }

    pub fn folder(&self, path: &Path) -> Result<Option<Folder>> {
        let text = path_str(path)?;
        Ok(self
            .conn
            .query_row("SELECT id, path, added_at, offline FROM folders WHERE path = ?1", [text], folder_row)
            .optional()?)
    }

    pub fn folders(&self) -> Result<Vec<Folder>> {
        let mut stmt = self.conn.prepare("SELECT id, path, added_at, offline FROM folders ORDER BY path")?;
        let rows = stmt.query_map([], folder_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Forgets a folder and its photos; returns the ids of the photos removed.
    pub fn remove_folder(&mut self, folder_id: i64) -> Result<Vec<i64>> {
        let tx = self.conn.transaction()?;
        let ids = ids_where(&tx, "SELECT id FROM photos WHERE folder_id = ?1", folder_id)?;
        tx.execute("DELETE FROM folders WHERE id = ?1", [folder_id])?;
        tx.commit()?;
        Ok(ids)
    }

    pub fn set_offline(&self, folder_id: i64, offline: bool) -> Result<()> {
        self.conn.execute("UPDATE folders SET offline = ?2 WHERE id = ?1", params![folder_id, offline])?;
        Ok(())
    }

    /// Replaces the subfolders of a folder that could not be read at its last scan.
    pub fn set_offline_dirs(&mut self, folder_id: i64, dirs: &[(PathBuf, String)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM offline_dirs WHERE folder_id = ?1", [folder_id])?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO offline_dirs (path, folder_id, reason) VALUES (?1, ?2, ?3)
                 ON CONFLICT(path) DO UPDATE SET reason = excluded.reason",
            )?;
            for (path, reason) in dirs {
                insert.execute(params![path_str(path)?, folder_id, capped(reason.clone())])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Subfolders that could not be read at the last scan of their folder.
    pub fn offline_dirs(&self) -> Result<Vec<OfflineDir>> {
        let mut stmt = self.conn.prepare_cached("SELECT folder_id, path, reason FROM offline_dirs ORDER BY path")?;
        let rows = stmt.query_map([], |r| {
            Ok(OfflineDir { folder_id: r.get(0)?, path: PathBuf::from(r.get::<_, String>(1)?), reason: r.get(2)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Content hashes of the given photos (those that have one).
    pub fn hashes(&self, ids: &[i64]) -> Result<Vec<(i64, [u8; 32])>> {
        let mut stmt = self.conn.prepare_cached("SELECT content_hash FROM photos WHERE id = ?1")?;
        let mut out = Vec::new();
        for id in ids {
            let hash: Option<Vec<u8>> = stmt.query_row([id], |r| r.get(0)).optional()?.flatten();
            if let Some(hash) = hash_of(hash) {
                out.push((*id, hash));
            }
        }
        Ok(out)
    }

    /// An indexed photo with this content and a vector of `model_id`, if any.
    pub fn indexed_with_hash(&self, hash: &[u8; 32], model_id: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT p.id FROM photos p JOIN vectors v ON v.photo_id = p.id AND v.model_id = ?2
                 WHERE p.content_hash = ?1 AND p.status = 'indexed' ORDER BY p.id LIMIT 1",
                params![hash.as_slice(), model_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A file moved or renamed: the photo keeps its id, vectors and metadata; only where it
    /// lives changes.
    pub fn move_photo(&self, id: i64, to: &FileFacts) -> Result<()> {
        self.conn.execute(
            "UPDATE photos SET folder_id = ?2, path = ?3, size = ?4, mtime_ns = ?5 WHERE id = ?1",
            params![id, to.folder_id, path_str(&to.path)?, to.size as i64, to.mtime_ns],
        )?;
        Ok(())
    }

    /// A byte-identical copy of an indexed photo: a new photo with the source's metadata and
    /// vectors, no encoding needed. Returns the new id.
    pub fn duplicate_photo(&mut self, source: i64, file: &FileFacts) -> Result<i64> {
        let tx = self.conn.transaction()?;
        let id: i64 = tx.query_row(
            "INSERT INTO photos (folder_id, path, size, mtime_ns, content_hash, width, height, format, taken_at,
                                 camera_make, camera_model, gps_lat, gps_lon, orientation, status, error,
                                 place_city, place_region, place_country)
             SELECT ?2, ?3, ?4, ?5, content_hash, width, height, format, taken_at,
                    camera_make, camera_model, gps_lat, gps_lon, orientation, status, error,
                    place_city, place_region, place_country
             FROM photos WHERE id = ?1
             RETURNING id",
            params![source, file.folder_id, path_str(&file.path)?, file.size as i64, file.mtime_ns],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO vectors (photo_id, model_id, vector) SELECT ?2, model_id, vector FROM vectors WHERE photo_id = ?1",
            params![source, id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Every file of a folder the catalog knows, keyed by path.
    pub fn known_files(&self, folder_id: i64, model_id: &str) -> Result<HashMap<PathBuf, KnownFile>> {
        let mut stmt = self.conn.prepare_cached(&format!("{KNOWN_FILES} WHERE p.folder_id = ?3"))?;
        let rows = stmt.query_map(params![model_id, now_unix(), folder_id], known_file_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The files of a folder the catalog knows at `under`: the file itself, or a folder and
    /// everything in it. Two lookups on the path index (the path, and the range of paths
    /// `under/...`), so the cost is that of what is there, never of the whole folder (`+`
    /// keeps SQLite from walking the folder's rows through the folder index instead).
    pub fn known_files_under(
        &self,
        folder_id: i64,
        under: &Path,
        model_id: &str,
    ) -> Result<HashMap<PathBuf, KnownFile>> {
        let (exact, (low, high)) = (path_str(under)?.trim_end_matches('/'), prefix_range(under)?);
        let mut stmt = self.conn.prepare_cached(&known_files_under_sql())?;
        let rows = stmt.query_map(params![model_id, now_unix(), folder_id, exact, low, high], known_file_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Writes the outcome of one batch in a single transaction; returns the photo id of each
    /// outcome, in order. A file seen before keeps its id (the vector-index key).
    pub fn write_batch(&mut self, model_id: &str, outcomes: &[Outcome]) -> Result<Vec<i64>> {
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            let id = match outcome {
                Outcome::Indexed { file, content_hash, meta, vector } => {
                    let id = upsert_photo(&tx, file, Some(content_hash), Some(meta), None)?;
                    tx.execute(
                        "INSERT INTO vectors (photo_id, model_id, vector) VALUES (?1, ?2, ?3)
                         ON CONFLICT(photo_id, model_id) DO UPDATE SET vector = excluded.vector",
                        params![id, model_id, vector_bytes(vector)],
                    )?;
                    id
                }
                Outcome::Failed { file, failure } => {
                    let id = upsert_photo(&tx, file, None, None, Some(failure))?;
                    tx.execute("DELETE FROM vectors WHERE photo_id = ?1", [id])?;
                    id
                }
            };
            ids.push(id);
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Removes photos (files deleted from disk) with their vectors.
    pub fn delete_photos(&mut self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare("DELETE FROM photos WHERE id = ?1")?;
            for id in ids {
                stmt.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A saved setting (JSON text), or `None` when it was never set.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// What search results show of the given photos, in one query; ids that no longer exist are
    /// left out.
    pub fn hit_rows(&self, ids: &[i64]) -> Result<HashMap<i64, HitRow>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; ids.len()].join(",");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, path, COALESCE(taken_at, mtime_ns / 1000000000), content_hash FROM photos WHERE id IN ({marks})"
        ))?;
        let rows = stmt.query_map(params_from_iter(ids), |r| {
            let hash: Option<Vec<u8>> = r.get(3)?;
            Ok((
                r.get(0)?,
                HitRow {
                    path: PathBuf::from(r.get::<_, String>(1)?),
                    taken_at: r.get(2)?,
                    content_hash: hash_of(hash),
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One photo's facts (its `thumbnail` left for the caller, who knows where thumbnails live)
    /// and its content hash.
    pub fn photo(&self, id: i64) -> Result<Option<(crate::api::PhotoRecord, Option<[u8; 32]>)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT path, size, format, width, height, COALESCE(taken_at, mtime_ns / 1000000000),
                        camera_make, camera_model, content_hash
                 FROM photos WHERE id = ?1",
                [id],
                |r| {
                    let record = crate::api::PhotoRecord {
                        id,
                        path: PathBuf::from(r.get::<_, String>(0)?),
                        size: r.get::<_, i64>(1)?.max(0) as u64,
                        format: r.get(2)?,
                        width: r.get(3)?,
                        height: r.get(4)?,
                        taken_at: r.get(5)?,
                        camera_make: r.get(6)?,
                        camera_model: r.get(7)?,
                        thumbnail: None,
                    };
                    Ok((record, hash_of(r.get(8)?)))
                },
            )
            .optional()?)
    }

    /// The content hash of an indexed photo.
    pub fn content_hash(&self, photo_id: i64) -> Result<Option<[u8; 32]>> {
        let hash: Option<Option<Vec<u8>>> = self
            .conn
            .query_row("SELECT content_hash FROM photos WHERE id = ?1", [photo_id], |r| r.get(0))
            .optional()?;
        Ok(hash_of(hash.flatten()))
    }

    pub fn photo_id_by_path(&self, path: &Path) -> Result<Option<i64>> {
        let text = path_str(path)?;
        Ok(self.conn.query_row("SELECT id FROM photos WHERE path = ?1", [text], |r| r.get(0)).optional()?)
    }

    /// Indexed photos that share their (sampled) content hash with another, grouped: candidates
    /// for exact duplicates, to be confirmed by their bytes.
    pub fn same_content_groups(&self) -> Result<Vec<Vec<(i64, PathBuf)>>> {
        let mut stmt = self.conn.prepare(
            "SELECT content_hash, id, path FROM photos
             WHERE status = 'indexed' AND content_hash IN (
                 SELECT content_hash FROM photos WHERE status = 'indexed' AND content_hash IS NOT NULL
                 GROUP BY content_hash HAVING COUNT(*) > 1)
             ORDER BY content_hash, id",
        )?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))?;
        let mut groups: Vec<Vec<(i64, PathBuf)>> = Vec::new();
        let mut last: Option<Vec<u8>> = None;
        for row in rows {
            let (hash, id, path) = row?;
            if last.as_ref() != Some(&hash) {
                groups.push(Vec::new());
                last = Some(hash);
            }
            if let Some(group) = groups.last_mut() {
                group.push((id, PathBuf::from(path)));
            }
        }
        Ok(groups)
    }

    /// The paths of these photos, by id.
    pub fn paths_of(&self, ids: &[i64]) -> Result<HashMap<i64, PathBuf>> {
        let mut stmt = self.conn.prepare_cached("SELECT path FROM photos WHERE id = ?1")?;
        let mut paths = HashMap::with_capacity(ids.len());
        for id in ids {
            if let Some(path) = stmt.query_row([id], |r| r.get::<_, String>(0)).optional()? {
                paths.insert(*id, PathBuf::from(path));
            }
        }
        Ok(paths)
    }

    /// The places indexed photos were taken in, each with how many: countries, regions and
    /// towns, most photos first.
    pub fn places(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT name, MAX(n) FROM (
                 SELECT place_country AS name, COUNT(*) AS n FROM photos WHERE place_country IS NOT NULL
                     AND status = 'indexed' GROUP BY place_country
                 UNION ALL SELECT place_region, COUNT(*) FROM photos WHERE place_region IS NOT NULL
                     AND place_region != '' AND status = 'indexed' GROUP BY place_region
                 UNION ALL SELECT place_city, COUNT(*) FROM photos WHERE place_city IS NOT NULL
                     AND status = 'indexed' GROUP BY place_city)
             GROUP BY name ORDER BY MAX(n) DESC, name",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Ids of the indexed photos that pass a filter, in one query.
    pub fn filter_ids(&self, filter: &PhotoFilter) -> Result<Vec<i64>> {
        let mut sql =
            String::from("SELECT p.id FROM photos p JOIN folders f ON f.id = p.folder_id WHERE p.status = 'indexed'");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(folder) = &filter.folder {
            let (low, high) = prefix_range(folder)?;
            sql.push_str(" AND p.path >= ? AND p.path < ?");
            args.extend([low.into(), high.into()]);
        }
        let when = "COALESCE(p.taken_at, p.mtime_ns / 1000000000)";
        if let Some(from) = filter.from {
            sql.push_str(&format!(" AND {when} >= ?"));
            args.push(from.into());
        }
        if let Some(to) = filter.to {
            sql.push_str(&format!(" AND {when} <= ?"));
            args.push(to.into());
        }
        if !filter.formats.is_empty() {
            sql.push_str(&format!(" AND p.format IN ({})", vec!["?"; filter.formats.len()].join(",")));
            args.extend(filter.formats.iter().map(|f| f.clone().into()));
        }
        if let Some(place) = &filter.place {
            sql.push_str(
                " AND (p.place_city = ? COLLATE NOCASE OR p.place_region = ? COLLATE NOCASE
                       OR p.place_country = ? COLLATE NOCASE)",
            );
            args.extend([place.clone().into(), place.clone().into(), place.clone().into()]);
        }
        if !filter.months.is_empty() {
            let months = vec!["?"; filter.months.len()].join(",");
            sql.push_str(&format!(" AND CAST(strftime('%m', {when}, 'unixepoch') AS INTEGER) IN ({months})"));
            args.extend(filter.months.iter().map(|m| i64::from(*m).into()));
        }
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Counts from the per-folder totals the triggers keep, plus the photos under unreadable
    /// subfolders: a few small queries, whatever the library size.
    pub fn counts(&self) -> Result<PhotoCounts> {
        let mut counts = self.conn.query_row(
            "SELECT COALESCE(SUM(c.indexed), 0), COALESCE(SUM(c.failed), 0),
                    COALESCE(SUM(CASE WHEN f.offline THEN c.indexed + c.failed ELSE 0 END), 0)
             FROM folder_counts c JOIN folders f ON f.id = c.folder_id",
            [],
            |r| {
                let count = |i| r.get::<_, i64>(i).map(|n| n.max(0) as u64);
                let (indexed, failed, offline) = (count(0)?, count(1)?, count(2)?);
                Ok(PhotoCounts { total: indexed + failed, indexed, failed, offline })
            },
        )?;
        let mut under = self.conn.prepare_cached(
            "SELECT COUNT(*) FROM photos p JOIN folders f ON f.id = p.folder_id
             WHERE p.path >= ?1 AND p.path < ?2 AND NOT f.offline",
        )?;
        for dir in self.offline_dirs()? {
            let (low, high) = prefix_range(&dir.path)?;
            counts.offline += under.query_row([low, high], |r| r.get::<_, i64>(0))?.max(0) as u64;
        }
        Ok(counts)
    }

    pub fn failures(&self) -> Result<Vec<FailedPhoto>> {
        let mut stmt =
            self.conn.prepare("SELECT path, COALESCE(error, '') FROM photos WHERE status = 'failed' ORDER BY path")?;
        let rows =
            stmt.query_map([], |r| Ok(FailedPhoto { path: PathBuf::from(r.get::<_, String>(0)?), reason: r.get(1)? }))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn upsert_photo(
    tx: &Transaction<'_>,
    file: &FileFacts,
    hash: Option<&[u8; 32]>,
    meta: Option<&PhotoMeta>,
    failure: Option<&FileFailure>,
) -> Result<i64> {
    let default_meta = PhotoMeta::default();
    let m = meta.unwrap_or(&default_meta);
    let status = if failure.is_some() { "failed" } else { "indexed" };
    let kind = failure.map(|f| match f.kind {
        FailureKind::Transient => "transient",
        FailureKind::Permanent => "permanent",
    });
    let (lat, lon) = m.gps.map_or((None, None), |(a, b)| (Some(a), Some(b)));
    let (city, region, country) = match &m.place {
        Some(p) => (Some(&p.city), Some(&p.region), Some(&p.country)),
        None => (None, None, None),
    };
    Ok(tx.query_row(
        "INSERT INTO photos (folder_id, path, size, mtime_ns, content_hash, width, height, format, taken_at,
                             camera_make, camera_model, gps_lat, gps_lon, orientation, status, error,
                             failure, attempts, retry_at, place_city, place_region, place_country)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?17 IS NOT NULL, CASE WHEN ?17 = 'transient' THEN ?18 END, ?20, ?21, ?22)
         ON CONFLICT(path) DO UPDATE SET
            folder_id = excluded.folder_id, size = excluded.size, mtime_ns = excluded.mtime_ns,
            content_hash = excluded.content_hash, width = excluded.width, height = excluded.height,
            format = excluded.format, taken_at = excluded.taken_at, camera_make = excluded.camera_make,
            camera_model = excluded.camera_model, gps_lat = excluded.gps_lat, gps_lon = excluded.gps_lon,
            place_city = excluded.place_city, place_region = excluded.place_region,
            place_country = excluded.place_country,
            orientation = excluded.orientation, status = excluded.status, error = excluded.error,
            failure = excluded.failure,
            attempts = CASE WHEN excluded.failure IS NULL THEN 0 ELSE photos.attempts + 1 END,
            retry_at = CASE WHEN excluded.failure = 'transient'
                            THEN ?18 + ?19 * (1 << (2 * MIN(photos.attempts, 6))) END
         RETURNING id",
        params![
            file.folder_id,
            path_str(&file.path)?,
            file.size as i64,
            file.mtime_ns,
            hash.map(|h| h.as_slice()),
            m.width,
            m.height,
            m.format,
            m.taken_at,
            m.camera_make,
            m.camera_model,
            lat,
            lon,
            m.orientation,
            status,
            failure.map(|f| f.reason.as_str()),
            kind,
            now_unix(),
            RETRY_BACKOFF_S,
            city,
            region,
            country,
        ],
        |r| r.get(0),
    )?)
}

/// The first retry of a transient failure waits this long; each later one four times longer
/// (up to 4^6: about three days).
const RETRY_BACKOFF_S: i64 = 60;

/// [`Catalog::known_files_under`]'s query: `?3` the folder, `?4` the path, `?5`..`?6` the range
/// of paths inside it.
fn known_files_under_sql() -> String {
    format!(
        "{KNOWN_FILES} WHERE p.path = ?4 AND +p.folder_id = ?3
         UNION ALL
         {KNOWN_FILES} WHERE p.path >= ?5 AND p.path < ?6 AND +p.folder_id = ?3"
    )
}

/// What [`known_file_row`] reads; `?1` is the model, `?2` now (unix seconds).
const KNOWN_FILES: &str = "SELECT p.id, p.path, p.size, p.mtime_ns, p.status,
        EXISTS (SELECT 1 FROM vectors v WHERE v.photo_id = p.id AND v.model_id = ?1),
        p.failure = 'transient' AND COALESCE(p.retry_at, 0) <= ?2
    FROM photos p";

fn known_file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(PathBuf, KnownFile)> {
    let status: String = r.get(4)?;
    Ok((
        PathBuf::from(r.get::<_, String>(1)?),
        KnownFile {
            id: r.get(0)?,
            size: r.get::<_, i64>(2)? as u64,
            mtime_ns: r.get(3)?,
            status: if status == "indexed" { PhotoStatus::Indexed } else { PhotoStatus::Failed },
            has_vector: r.get(5)?,
            retry_due: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
        },
    ))
}

/// The half-open range of paths strictly inside folder `dir` (`dir/` up to `dir0`, `0` being
/// the character after `/`): served by the path index, unlike a `substr` or `LIKE` test.
fn prefix_range(dir: &Path) -> Result<(String, String)> {
    let text = path_str(dir)?.trim_end_matches('/');
    Ok((format!("{text}/"), format!("{text}0")))
}

fn ids_where(tx: &Transaction<'_>, sql: &str, arg: i64) -> Result<Vec<i64>> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map([arg], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn folder_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Folder> {
    Ok(Folder { id: r.get(0)?, path: PathBuf::from(r.get::<_, String>(1)?), added_at: r.get(2)?, offline: r.get(3)? })
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
