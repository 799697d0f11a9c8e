//! Online copies of a live database (SQLite's backup API), so a damaged or lost file can be
//! restored from a recent copy: `backups/<stem>-online-<UTC time>.db`, the newest
//! [`ONLINE_BACKUPS_KEPT`] kept.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::{Connection, MAIN_DB};

use crate::connection::{create_private_dir, create_private_file};
use crate::error::sql;
use crate::migrate::backup_dir;
use crate::{StateDb, StateError};

/// How many online backups of one database file are kept.
pub const ONLINE_BACKUPS_KEPT: usize = 5;

fn prefix(db_path: &Path) -> String {
    let stem = db_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    format!("{stem}-online-")
}

/// The online backups of the database at `db_path`, newest first, with their modification times.
pub fn online_backups(db_path: &Path) -> Vec<(PathBuf, SystemTime)> {
    let dir = backup_dir(db_path);
    let prefix = prefix(db_path);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf, SystemTime)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&prefix) || !name.ends_with(".db") {
                return None;
            }
            let modified = entry.metadata().ok()?.modified().ok()?;
            Some((name, entry.path(), modified))
        })
        .collect();
    // The names carry a sortable UTC time.
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found
        .into_iter()
        .map(|(_, path, time)| (path, time))
        .collect()
}

/// The newest online backup of the database at `db_path` with its modification time: the
/// first of [`online_backups`], found with one `stat` (of the newest name) instead of one per
/// backup. Opening the database asks this on every command, to see whether a backup is due.
pub fn newest_online_backup(db_path: &Path) -> Option<(PathBuf, SystemTime)> {
    let dir = backup_dir(db_path);
    let prefix = prefix(db_path);
    let entries = fs::read_dir(&dir).ok()?;
    let (_, newest) = entries
        .flatten()
        .map(|entry| {
            let name = entry.file_name();
            (name.to_string_lossy().into_owned(), name)
        })
        .filter(|(name, _)| name.starts_with(&prefix) && name.ends_with(".db"))
        .max_by(|a, b| a.0.cmp(&b.0))?;
    let path = dir.join(newest);
    match fs::symlink_metadata(&path).and_then(|m| m.modified()) {
        Ok(modified) => Some((path, modified)),
        // As `online_backups` would: skip what cannot be read, take the next newest.
        Err(_) => online_backups(db_path).into_iter().next(),
    }
}

impl StateDb {
    /// Copies the live database to `backups/<stem>-online-<UTC time>.db` with SQLite's online
    /// backup API (other processes keep reading and writing meanwhile), then deletes all but
    /// the newest [`ONLINE_BACKUPS_KEPT`]. Returns the new copy. Nothing for in-memory databases.
    pub fn backup_online(&self) -> Result<Option<PathBuf>, StateError> {
        let Some(db_path) = self.path().map(Path::to_path_buf) else {
            return Ok(None);
        };
        let dir = backup_dir(&db_path);
        create_private_dir(&dir)?;
        let conn = self.lock_conn();
        let stamp: String = conn
            .query_row("SELECT strftime('%Y%m%dT%H%M%fZ', 'now')", [], |row| {
                row.get(0)
            })
            .map_err(sql("read the clock for the backup name"))?;
        let target = dir.join(format!("{}{stamp}.db", prefix(&db_path)));
        let tmp = dir.join(format!(".{}{stamp}.db.tmp", prefix(&db_path)));
        let _ = fs::remove_file(&tmp);
        create_private_file(&tmp).map_err(crate::error::backup_dir_failed(&dir))?;
        let failed = crate::error::backup_failed(&target);
        let copied = conn
            .backup(MAIN_DB, &tmp, None)
            .and_then(|()| {
                // The copy inherits WAL mode; make it one self-contained file.
                Connection::open(&tmp)
                    .and_then(|copy| copy.pragma_update(None, "journal_mode", "DELETE"))
            })
            .map_err(failed);
        drop(conn);
        if let Err(err) = copied {
            let _ = fs::remove_file(&tmp);
            return Err(err);
        }
        fs::rename(&tmp, &target).map_err(|source| StateError::BackupDir {
            path: dir.clone(),
            source,
        })?;
        for (old, _) in online_backups(&db_path)
            .into_iter()
            .skip(ONLINE_BACKUPS_KEPT)
        {
            let _ = fs::remove_file(old);
        }
        Ok(Some(target))
    }
}
