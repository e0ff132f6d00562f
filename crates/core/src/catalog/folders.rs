//! The folders the catalog watches, and the subfolders of each that are offline.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Catalog, Folder, OfflineDir, Result, capped, now_unix, path_str};

impl Catalog {
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

    /// The folder at `path`, if it is one of the library's.
    pub fn folder(&self, path: &Path) -> Result<Option<Folder>> {
        let text = path_str(path)?;
        Ok(self
            .conn
            .query_row("SELECT id, path, added_at, offline FROM folders WHERE path = ?1", [text], folder_row)
            .optional()?)
    }

    /// Every folder of the library, by path.
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

    /// Marks a folder as offline (it could not be read) or back.
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
}

fn folder_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Folder> {
    Ok(Folder { id: r.get(0)?, path: PathBuf::from(r.get::<_, String>(1)?), added_at: r.get(2)?, offline: r.get(3)? })
}

fn ids_where(tx: &Transaction<'_>, sql: &str, arg: i64) -> Result<Vec<i64>> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map([arg], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
