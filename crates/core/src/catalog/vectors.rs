//! Vectors in the catalog: stored as f16, each tagged with its model; every change logged with
//! a position that only grows, so an index file can be brought up to date by replaying the log.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Catalog, CatalogError, Result, VectorChanges};

impl Catalog {
    /// The position of the last vector change (any model): an index file records the position
    /// it contains. Never goes back, even when old entries are pruned.
    pub fn last_change(&self) -> Result<i64> {
        log_position(&self.conn)
    }

    /// The vectors of `model_id` changed after position `after`, read in one transaction with
    /// the position they bring an index to. `None` when the log no longer reaches back that far
    /// (the index must be rebuilt).
    pub fn vector_changes(&self, model_id: &str, after: i64) -> Result<Option<VectorChanges>> {
        let tx = self.conn.unchecked_transaction()?;
        let pruned: i64 = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [pruned_key(model_id)], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        if after < pruned {
            return Ok(None);
        }
        let up_to = log_position(&tx)?;
        let mut stmt = tx.prepare(
            "SELECT l.photo_id, v.vector
             FROM (SELECT DISTINCT photo_id FROM vector_log WHERE model_id = ?1 AND seq > ?2 AND seq <= ?3) l
             LEFT JOIN vectors v ON v.photo_id = l.photo_id AND v.model_id = ?1
             ORDER BY l.photo_id",
        )?;
        let mut rows = stmt.query(params![model_id, after, up_to])?;
        let mut changes = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let bytes = row.get_ref(1)?.as_blob_or_null().map_err(rusqlite::Error::from)?;
            changes.push((id, bytes.map(|b| decoded(id, b)).transpose()?));
        }
        Ok(Some(VectorChanges { up_to, changes }))
    }

    /// Forgets the log entries of `model_id` up to `up_to`: an index file that holds them was
    /// saved. An older index file can no longer be brought up to date and is rebuilt.
    pub fn prune_changes(&self, model_id: &str, up_to: i64) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("DELETE FROM vector_log WHERE model_id = ?1 AND seq <= ?2", params![model_id, up_to])?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
            params![pruned_key(model_id), up_to],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes every vector of `model_id` and its change log; returns how many there were. Its
    /// index file is then out of date for good (the log is marked pruned past it).
    pub fn remove_model_vectors(&self, model_id: &str) -> Result<u64> {
        let tx = self.conn.unchecked_transaction()?;
        let removed = tx.execute("DELETE FROM vectors WHERE model_id = ?1", [model_id])?;
        tx.execute("DELETE FROM vector_log WHERE model_id = ?1", [model_id])?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![pruned_key(model_id), log_position(&tx)?],
        )?;
        tx.commit()?;
        Ok(removed as u64)
    }

    /// Models with vectors in the catalog, with their counts.
    pub fn vector_models(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt =
            self.conn.prepare("SELECT model_id, COUNT(*) FROM vectors GROUP BY model_id ORDER BY model_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Indexed photos in folders that are online with no vector of `model_id`: what a switch
    /// to that model still has to embed.
    pub fn photos_without_vector(&self, model_id: &str) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM photos p JOIN folders f ON f.id = p.folder_id
             WHERE p.status = 'indexed' AND NOT f.offline
               AND NOT EXISTS (SELECT 1 FROM vectors v WHERE v.photo_id = p.id AND v.model_id = ?1)",
            [model_id],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// How many photos have a vector of `model_id`.
    pub fn vector_count(&self, model_id: &str) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM vectors WHERE model_id = ?1", [model_id], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Calls `each` with every vector of a model, in photo-id order.
    pub fn for_each_vector(&self, model_id: &str, mut each: impl FnMut(i64, &[f32])) -> Result<()> {
        let mut stmt =
            self.conn.prepare("SELECT photo_id, vector FROM vectors WHERE model_id = ?1 ORDER BY photo_id")?;
        let mut rows = stmt.query([model_id])?;
        let mut buf = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let bytes = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            decode_vector(id, bytes, &mut buf)?;
            each(id, &buf);
        }
        Ok(())
    }

    /// About `n` vectors of `model_id` spread over the library (all of them when there are no
    /// more): photo ids drawn at random between the smallest and the largest, each looked up by
    /// the primary key, so a million-photo catalog costs `n` lookups, not a scan.
    pub fn sample_vectors(&self, model_id: &str, n: usize) -> Result<Vec<Vec<f32>>> {
        let (low, high): (Option<i64>, Option<i64>) = self.conn.query_row(
            "SELECT MIN(photo_id), MAX(photo_id) FROM vectors WHERE model_id = ?1",
            [model_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (Some(low), Some(high)) = (low, high) else { return Ok(Vec::new()) };
        let mut sample = Vec::with_capacity(n);
        if self.vector_count(model_id)? as usize <= n {
            self.for_each_vector(model_id, |_, v| sample.push(v.to_vec()))?;
            return Ok(sample);
        }
        let span = (high - low + 1) as u64;
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ span;
        let mut seen = std::collections::HashSet::with_capacity(n);
        for _ in 0..n * 8 {
            if sample.len() == n {
                break;
            }
            // xorshift64*: reproducible, so one library's cut-offs do not flicker between starts.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let id = low + (state.wrapping_mul(0x2545_f491_4f6c_dd1d) % span) as i64;
            if seen.insert(id)
                && let Some(vector) = self.vector(id, model_id)?
            {
                sample.push(vector);
            }
        }
        Ok(sample)
    }

    /// The vector of one photo for `model_id`, if it has one.
    pub fn vector(&self, photo_id: i64, model_id: &str) -> Result<Option<Vec<f32>>> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT vector FROM vectors WHERE photo_id = ?1 AND model_id = ?2",
                params![photo_id, model_id],
                |r| r.get(0),
            )
            .optional()?;
        bytes.map(|b| decoded(photo_id, &b)).transpose()
    }
}

/// The last position handed out in the change log (0 before the first change).
fn log_position(conn: &Connection) -> Result<i64> {
    Ok(conn
        .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'vector_log'", [], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// A stored vector decoded into a new buffer.
fn decoded(photo_id: i64, bytes: &[u8]) -> Result<Vec<f32>> {
    let mut vector = Vec::new();
    decode_vector(photo_id, bytes, &mut vector)?;
    Ok(vector)
}

fn pruned_key(model_id: &str) -> String {
    format!("log_pruned:{model_id}")
}

/// Vectors are stored as little-endian f16: search runs on an f16 index, and it halves the
/// catalog's largest column.
pub(super) fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()
}

pub(super) fn decode_vector(photo_id: i64, bytes: &[u8], out: &mut Vec<f32>) -> Result<()> {
    if !bytes.len().is_multiple_of(2) {
        return Err(CatalogError::CorruptVector { photo_id, bytes: bytes.len() });
    }
    out.clear();
    out.extend(bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()));
    Ok(())
}
