//! The catalog's schema and its migrations: each step brings a catalog from one version to the
//! next inside one transaction; a catalog newer than this code is refused.

use std::path::Path;

use rusqlite::{Connection, Transaction};

use super::{CatalogError, Result};

/// The schema this code writes. A catalog with a higher `user_version` is refused.
pub const SCHEMA_VERSION: i64 = 5;

/// One migration step.
enum Step {
    Sql(&'static str),
    /// A change SQL alone cannot make, followed by SQL.
    Code(fn(&Transaction<'_>) -> rusqlite::Result<()>, &'static str),
}

/// Step `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[Step] = &[
    Step::Sql(
        r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE folders (
    id       INTEGER PRIMARY KEY,
    path     TEXT NOT NULL UNIQUE,
    added_at INTEGER NOT NULL
);
CREATE TABLE photos (
    id           INTEGER PRIMARY KEY,
    folder_id    INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    path         TEXT NOT NULL UNIQUE,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    content_hash BLOB,
    width        INTEGER,
    height       INTEGER,
    format       TEXT,
    taken_at     INTEGER,
    camera_make  TEXT,
    camera_model TEXT,
    gps_lat      REAL,
    gps_lon      REAL,
    orientation  INTEGER,
    status       TEXT NOT NULL CHECK (status IN ('indexed', 'failed')),
    error        TEXT
);
CREATE INDEX photos_folder ON photos(folder_id);
CREATE INDEX photos_hash ON photos(content_hash);
CREATE TABLE vectors (
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    vector   BLOB NOT NULL,
    PRIMARY KEY (photo_id, model_id)
) WITHOUT ROWID;
CREATE INDEX vectors_model ON vectors(model_id);
"#,
    ),
    Step::Sql("ALTER TABLE folders ADD COLUMN offline INTEGER NOT NULL DEFAULT 0;"),
    Step::Sql(
        r#"
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    ),
    Step::Code(
        vectors_to_f16,
        r#"
-- Failures that may pass (I/O errors, time limits) are retried with back-off; others wait for
-- the file to change.
ALTER TABLE photos ADD COLUMN failure TEXT CHECK (failure IN ('transient', 'permanent'));
ALTER TABLE photos ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE photos ADD COLUMN retry_at INTEGER;
UPDATE photos SET failure = 'permanent', attempts = 1 WHERE status = 'failed';
UPDATE photos SET error = substr(error, 1, 300) WHERE length(error) > 300;

-- Subfolders that could not be read at the last scan: their photos are kept.
CREATE TABLE offline_dirs (
    path      TEXT PRIMARY KEY,
    folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    reason    TEXT NOT NULL
) WITHOUT ROWID;

-- Counts per folder, kept by triggers so that status never counts a million rows.
CREATE TABLE folder_counts (
    folder_id INTEGER PRIMARY KEY REFERENCES folders(id) ON DELETE CASCADE,
    indexed   INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO folder_counts (folder_id, indexed, failed)
    SELECT f.id,
           (SELECT COUNT(*) FROM photos p WHERE p.folder_id = f.id AND p.status = 'indexed'),
           (SELECT COUNT(*) FROM photos p WHERE p.folder_id = f.id AND p.status = 'failed')
    FROM folders f;
CREATE TRIGGER folders_counted AFTER INSERT ON folders BEGIN
    INSERT INTO folder_counts (folder_id) VALUES (NEW.id);
END;
CREATE TRIGGER photos_counted_insert AFTER INSERT ON photos BEGIN
    UPDATE folder_counts SET indexed = indexed + (NEW.status = 'indexed'), failed = failed + (NEW.status = 'failed')
    WHERE folder_id = NEW.folder_id;
END;
CREATE TRIGGER photos_counted_delete AFTER DELETE ON photos BEGIN
    UPDATE folder_counts SET indexed = indexed - (OLD.status = 'indexed'), failed = failed - (OLD.status = 'failed')
    WHERE folder_id = OLD.folder_id;
END;
CREATE TRIGGER photos_counted_update AFTER UPDATE OF status, folder_id ON photos BEGIN
    UPDATE folder_counts SET indexed = indexed - (OLD.status = 'indexed'), failed = failed - (OLD.status = 'failed')
    WHERE folder_id = OLD.folder_id;
    UPDATE folder_counts SET indexed = indexed + (NEW.status = 'indexed'), failed = failed + (NEW.status = 'failed')
    WHERE folder_id = NEW.folder_id;
END;

-- Every change to a vector, in order: an index file records the last change it contains, and
-- opening it replays only the newer ones. Entries an index file already holds are pruned.
CREATE TABLE vector_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    photo_id INTEGER NOT NULL
);
CREATE INDEX vector_log_model ON vector_log(model_id, seq);
CREATE TRIGGER vectors_logged_insert AFTER INSERT ON vectors BEGIN
    INSERT INTO vector_log (model_id, photo_id) VALUES (NEW.model_id, NEW.photo_id);
END;
CREATE TRIGGER vectors_logged_update AFTER UPDATE ON vectors BEGIN
    INSERT INTO vector_log (model_id, photo_id) VALUES (NEW.model_id, NEW.photo_id);
END;
CREATE TRIGGER vectors_logged_delete AFTER DELETE ON vectors BEGIN
    INSERT INTO vector_log (model_id, photo_id) VALUES (OLD.model_id, OLD.photo_id);
END;
DELETE FROM meta WHERE key = 'generation';
"#,
    ),
    Step::Code(
        add_places,
        "CREATE INDEX photos_city ON photos(place_city) WHERE place_city IS NOT NULL;
         CREATE INDEX photos_region ON photos(place_region) WHERE place_region IS NOT NULL;
         CREATE INDEX photos_country ON photos(place_country) WHERE place_country IS NOT NULL;",
    ),
];

/// Version 5 names where photos were taken (town, region, country, from their GPS position
/// through the offline geocoder), so that queries and filters can use places.
fn add_places(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE photos ADD COLUMN place_city TEXT;
         ALTER TABLE photos ADD COLUMN place_region TEXT;
         ALTER TABLE photos ADD COLUMN place_country TEXT;",
    )?;
    let located: Vec<(i64, f64, f64)> = tx
        .prepare("SELECT id, gps_lat, gps_lon FROM photos WHERE gps_lat IS NOT NULL AND gps_lon IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut update =
        tx.prepare("UPDATE photos SET place_city = ?2, place_region = ?3, place_country = ?4 WHERE id = ?1")?;
    for (id, lat, lon) in located {
        if let Some(place) = crate::places::place_of(lat, lon) {
            update.execute(rusqlite::params![id, place.city, place.region, place.country])?;
        }
    }
    Ok(())
}

/// Version 4 stores vectors as little-endian f16 (search runs on an f16 index anyway), in a
/// rowid table: in the WITHOUT ROWID table before, a row over ~1,000 bytes spilled onto an
/// overflow page of its own (4.7 KB on disk per 1 KB vector).
fn vectors_to_f16(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE vectors_v4 (
             photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
             model_id TEXT NOT NULL,
             vector   BLOB NOT NULL,
             UNIQUE (photo_id, model_id)
         );",
    )?;
    {
        let mut rows = tx.prepare("SELECT photo_id, model_id, vector FROM vectors ORDER BY photo_id")?;
        let mut insert = tx.prepare("INSERT INTO vectors_v4 (photo_id, model_id, vector) VALUES (?1, ?2, ?3)")?;
        let mut cursor = rows.query([])?;
        while let Some(row) = cursor.next()? {
            let bytes = row.get_ref(2)?.as_blob()?;
            let floats: Vec<f32> =
                bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            insert.execute(rusqlite::params![
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                super::vector_bytes(&floats)
            ])?;
        }
    }
    tx.execute_batch(
        "DROP TABLE vectors;
         ALTER TABLE vectors_v4 RENAME TO vectors;
         CREATE INDEX vectors_model ON vectors(model_id, photo_id);",
    )
}

pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(CatalogError::TooNew { path: path.to_path_buf(), found, supported: SCHEMA_VERSION });
    }
    for (version, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        match step {
            Step::Sql(sql) => tx.execute_batch(sql)?,
            Step::Code(code, sql) => {
                code(&tx)?;
                tx.execute_batch(sql)?;
            }
        }
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn a_version_3_catalog_keeps_its_vectors_counts_and_failures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite");
        {
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for step in &MIGRATIONS[..3] {
                let Step::Sql(sql) = step else { panic!("the first steps are SQL") };
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 3).unwrap();
            let vector: Vec<u8> = [0.5f32, -0.25].iter().flat_map(|x| x.to_le_bytes()).collect();
            tx.execute_batch(
                "INSERT INTO folders (id, path, added_at) VALUES (1, '/p', 0);
                 INSERT INTO photos (id, folder_id, path, size, mtime_ns, status) VALUES (1, 1, '/p/a.jpg', 1, 1, 'indexed');
                 INSERT INTO photos (id, folder_id, path, size, mtime_ns, status, error)
                     VALUES (2, 1, '/p/b.jpg', 1, 1, 'failed', 'corrupt');",
            )
            .unwrap();
            tx.execute("INSERT INTO vectors (photo_id, model_id, vector) VALUES (1, 'm', ?1)", [vector]).unwrap();
            tx.commit().unwrap();
        }
        let catalog = Catalog::open(&path).unwrap();
        assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(catalog.vector(1, "m").unwrap(), Some(vec![0.5, -0.25]));
        let counts = catalog.counts().unwrap();
        assert_eq!((counts.total, counts.indexed, counts.failed), (2, 1, 1));
        let known = catalog.known_files(1, "m").unwrap();
        let failed = &known[std::path::Path::new("/p/b.jpg")];
        assert!(!failed.retry_due, "an old failure is permanent: it waits for the file to change");
        assert!(catalog.vector_changes("m", 0).unwrap().unwrap().changes.is_empty(), "migrating logs nothing");
    }
}
