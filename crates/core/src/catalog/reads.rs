//! What search and the app read: the rows of results, one photo's details, duplicates by
//! content, places, the ids a filter allows, counts and failures.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params_from_iter};

use super::{Catalog, HitRow, PhotoFilter, Result, hash_of, path_str, prefix_range};
use crate::api::{FailedPhoto, PhotoCounts};

impl Catalog {
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

    /// The id of the photo at `path`, if the catalog has one.
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

    /// The files that could not be indexed, by path, with their reasons.
    pub fn failures(&self) -> Result<Vec<FailedPhoto>> {
        let mut stmt =
            self.conn.prepare("SELECT path, COALESCE(error, '') FROM photos WHERE status = 'failed' ORDER BY path")?;
        let rows =
            stmt.query_map([], |r| Ok(FailedPhoto { path: PathBuf::from(r.get::<_, String>(0)?), reason: r.get(1)? }))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
