//! Schema versions, migrating to the newest one, and backing up the file before that.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use rusqlite::{Connection, MAIN_DB, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

use crate::StateError;
use crate::connection::{create_private_dir, create_private_file, jitter};
use crate::error::{is_busy, opening, sql};

/// Every schema version in order; version N is reached by running the first N entries.
pub(crate) const MIGRATIONS: &[M<'static>] =
    &[M::up(include_str!("../migrations/001_initial.sql"))];

/// How many pre-migration backups of one database file are kept.
pub const BACKUPS_KEPT: usize = 5;

/// How long an upgrade waits for another process that is upgrading the same file.
const UPGRADE_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Result of one attempt at preparing the schema.
pub(crate) enum SetupStep {
    /// The schema is at the newest version.
    Ready,
    /// Another process changed things meanwhile; try again (the error is for when time runs out).
    Again(StateError),
}

/// Where pre-migration backups of `db_path` go.
pub fn backup_dir(db_path: &Path) -> PathBuf {
    db_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("backups")
}

/// Reads the schema version and how many schema objects exist, from one snapshot.
fn read_version(conn: &Connection, path: &Path) -> Result<(i64, i64), StateError> {
    conn.prepare_cached(
        "SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)",
    )
    .and_then(|mut stmt| stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
    .map_err(opening(path, "read the schema version"))
}

/// Switches the file to WAL if needed and migrates it; takes no write lock when up to date.
pub(crate) fn prepare_schema(
    conn: &mut Connection,
    path: &Path,
    list: &[M<'static>],
    backed_up: &mut Option<i64>,
) -> Result<SetupStep, StateError> {
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .map_err(opening(path, "read the journal mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // May legitimately stay in another mode (e.g. on file systems without shared memory).
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(opening(path, "switch the database to WAL mode"))?;
    }

    let latest = i64::try_from(list.len()).unwrap_or(i64::MAX);
    // The usual case, an up-to-date file, needs the version alone: a plain pragma, where the
    // query of both (below) costs SQLite a prepare four times as long.
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(opening(path, "read the schema version"))?;
    if current == latest {
        return Ok(SetupStep::Ready);
    }
    let (version, objects) = read_version(conn, path)?;
    if version == latest {
        return Ok(SetupStep::Ready);
    }
    if version > latest || version < 0 {
        return Err(StateError::SchemaTooNew {
            path: path.to_path_buf(),
            found: u32::try_from(version).unwrap_or(u32::MAX),
            supported: u32::try_from(latest).unwrap_or(u32::MAX),
        });
    }
    if version == 0 && objects > 0 {
        // An SQLite file of some other program: never add our tables to it.
        return Err(StateError::NotADatabase {
            path: path.to_path_buf(),
            source: None,
        });
    }
    // Upgrades of an existing file are serialized, so that exactly one process backs it up.
    let (version, _upgrade_lock) = if version > 0 {
        let lock = lock_upgrades(path)?;
        let (now, _) = read_version(conn, path)?;
        if now == latest {
            return Ok(SetupStep::Ready);
        }
        if *backed_up != Some(now) {
            backup(conn, path, now)?;
            *backed_up = Some(now);
        }
        (now, Some(lock))
    } else {
        (version, None)
    };

    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    let Err(err) = Migrations::from_slice(list).to_latest(conn) else {
        return Ok(SetupStep::Ready);
    };
    let (now, _) = read_version(conn, path)?;
    if now == latest {
        // Another process ran the same migration first.
        return Ok(SetupStep::Ready);
    }
    let err = if now == version {
        match into_busy(err) {
            Ok(busy) => return Ok(SetupStep::Again(sql("upgrade the database schema")(busy))),
            Err(other) => other,
        }
    } else {
        err
    };
    let failed = StateError::Migration {
        path: path.to_path_buf(),
        from: u32::try_from(version).unwrap_or(0),
        backups: backup_dir(path),
        source: Box::new(err),
    };
    if now != version {
        // Another process migrated part of the way meanwhile: look again.
        return Ok(SetupStep::Again(failed));
    }
    Err(failed)
}

/// Extracts the SQLite error when a migration failed only because the lock was held.
fn into_busy(err: rusqlite_migration::Error) -> Result<rusqlite::Error, rusqlite_migration::Error> {
    match err {
        rusqlite_migration::Error::RusqliteError { err, .. } if is_busy(&err) => Ok(err),
        other => Err(other),
    }
}

/// Takes the per-database upgrade lock (a lock file in the backup directory), waiting up to
/// [`UPGRADE_LOCK_WAIT`]. The lock is released when the returned file is dropped.
fn lock_upgrades(db_path: &Path) -> Result<File, StateError> {
    let dir = backup_dir(db_path);
    create_private_dir(&dir)?;
    let stem = db_stem(db_path);
    let lock_path = dir.join(format!("{stem}.upgrade.lock"));
    let io = |source| StateError::BackupDir {
        path: dir.clone(),
        source,
    };
    create_private_file(&lock_path).map_err(io)?;
    let file = File::options().write(true).open(&lock_path).map_err(io)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if started.elapsed() < UPGRADE_LOCK_WAIT => {
                sleep(Duration::from_millis(5 + jitter(20)));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(StateError::UpgradeLocked {
                    path: db_path.to_path_buf(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
    }
}

/// The file name of `db_path` without its extension, naming its backups.
fn db_stem(db_path: &Path) -> String {
    db_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned())
}

/// Copies the live database to `backups/<stem>-v<version>-<UTC time>.db` and prunes old copies.
fn backup(conn: &Connection, db_path: &Path, version: i64) -> Result<PathBuf, StateError> {
    let dir = backup_dir(db_path);
    create_private_dir(&dir)?;
    let stem = db_stem(db_path);
    let stamp: String = conn
        .query_row("SELECT strftime('%Y%m%dT%H%M%fZ', 'now')", [], |row| {
            row.get(0)
        })
        .map_err(sql("read the clock for the backup name"))?;
    let target = dir.join(format!("{stem}-v{version}-{stamp}.db"));
    create_private_file(&target).map_err(crate::error::backup_dir_failed(&dir))?;
    let failed = crate::error::backup_failed(&target);
    conn.backup(MAIN_DB, &target, None).map_err(&failed)?;
    // The copy inherits WAL mode; make it one self-contained file.
    Connection::open(&target)
        .and_then(|copy| copy.pragma_update(None, "journal_mode", "DELETE"))
        .map_err(failed)?;
    prune_backups(&dir, &stem)?;
    Ok(target)
}

/// Deletes all but the newest [`BACKUPS_KEPT`] backups of the database named `stem`.
fn prune_backups(dir: &Path, stem: &str) -> Result<(), StateError> {
    let io = |source| StateError::BackupDir {
        path: dir.to_path_buf(),
        source,
    };
    let prefix = format!("{stem}-v");
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".db"))
        else {
            continue;
        };
        let Some((version, stamp)) = rest.split_once('-') else {
            continue;
        };
        let Ok(version) = version.parse::<u32>() else {
            continue;
        };
        found.push((stamp.to_owned(), version, entry.path()));
    }
    found.sort_by(|a, b| b.cmp(a));
    for (_, _, old) in found.into_iter().skip(BACKUPS_KEPT) {
        fs::remove_file(&old).map_err(io)?;
    }
    Ok(())
}
