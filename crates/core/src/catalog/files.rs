//! What the indexer writes: the files it found with their facts, hashes, metadata, vectors
//! and failures, moves and copies of known content, and deletions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Transaction, params};

use super::{
    Catalog, FileFacts, FileFailure, KnownFile, Outcome, Result, hash_of, now_unix, path_str, prefix_range,
    vector_bytes,
};
use crate::api::{FailureKind, PhotoStatus};
use crate::metadata::PhotoMeta;

impl Catalog {
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
pub(super) fn known_files_under_sql() -> String {
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
