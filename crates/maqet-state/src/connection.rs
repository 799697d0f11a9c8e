//! Opening a database file so that many processes can do it at the same time.
//!
//! Every connection gets a busy handler that sleeps with jitter until [`BUSY_TIMEOUT`] has passed,
//! so writers queue for the lock instead of failing. Some steps of opening (switching the file to
//! WAL, migrating) can report `SQLITE_BUSY` without calling that handler; those steps are retried
//! as a whole with a jittered backoff until [`OPEN_DEADLINE`].

use std::cell::Cell;
use std::fs::{DirBuilder, OpenOptions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::ErrorKind;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode};
use rusqlite_migration::{M, Migrations};

use crate::StateError;
use crate::error::{opening, sql};
use crate::migrate::{SetupStep, prepare_schema};

/// How long one statement waits for another process's lock before failing with `Busy`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long opening keeps retrying steps that fail with `SQLITE_BUSY` outright.
const OPEN_DEADLINE: Duration = Duration::from_secs(15);

thread_local! {
    /// When the current wait for a lock started on this thread.
    static WAITING_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// A random number in `0..bound` (`bound` > 0), good enough to spread out retries.
pub(crate) fn jitter(bound: u64) -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    hasher.write_u128(nanos);
    hasher.finish() % bound.max(1)
}

/// SQLite busy handler: sleep 1-40 ms (growing, jittered) until `BUSY_TIMEOUT` has passed.
fn wait_for_lock(attempt: i32) -> bool {
    let now = Instant::now();
    let since = WAITING_SINCE
        .try_with(|cell| {
            let since = match cell.get() {
                Some(since) if attempt > 0 => since,
                _ => now,
            };
            cell.set(Some(since));
            since
        })
        .unwrap_or(now);
    if now.duration_since(since) >= BUSY_TIMEOUT {
        return false;
    }
    let base = 1 + u64::try_from(attempt).unwrap_or(0).min(20);
    sleep(Duration::from_millis(base + jitter(base)));
    true
}

/// Per-connection settings that never need a lock.
fn configure(conn: &Connection, path: &Path) -> Result<(), StateError> {
    conn.busy_handler(Some(wait_for_lock))
        .map_err(sql("install the busy handler"))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 4194304;",
    )
    .map_err(opening(path, "configure the connection"))?;
    conn.set_prepared_statement_cache_capacity(32);
    keep_logs_on_close(conn);
    Ok(())
}

/// Keeps the `-wal` and `-shm` files when the last connection closes (`SQLITE_FCNTL_PERSIST_WAL`).
///
/// Every maqet command is a short-lived process, so without this each one would create both
/// files and delete them again on exit. The close still checkpoints the log into the database
/// file, and with a `journal_size_limit` set SQLite then truncates the kept log to zero bytes:
/// a database file replaced while no connection is open never meets an old file's log.
fn keep_logs_on_close(conn: &Connection) {
    let mut on: std::ffi::c_int = 1;
    // SAFETY: `conn.handle()` is the open connection `conn` owns, valid for this call;
    // SQLITE_FCNTL_PERSIST_WAL reads and writes one `int` through the pointer, which points to
    // `on`, alive until the call returns. An in-memory database ignores the request.
    unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&raw mut on).cast(),
        );
    }
}

/// How much of the database file a whole-table read maps into memory (far more than a
/// registry of 10,000 VMs needs: 1,000 VMs take about 400 KiB).
const MAPPED_READ_BYTES: i64 = 256 << 20;

/// The database file mapped into memory for one whole-table read (`PRAGMA mmap_size`), and
/// unmapped again when dropped.
///
/// A listing reads every page of the table once. Through `read()` each page is copied into a
/// freshly allocated page of SQLite's cache (about one page fault and one `pread` per 4 KiB);
/// mapped, SQLite reads the kernel's page cache in place and the kernel maps the pages 16 at
/// a time. Only for the span of a read: a mapped file turns an I/O error (or a file truncated
/// by some other program) into `SIGBUS` instead of an error, so long-lived processes keep
/// ordinary reads for everything else. Failing to map is not an error: SQLite then reads as
/// before.
pub(crate) struct MappedReads<'c> {
    conn: &'c Connection,
    on: bool,
}

impl<'c> MappedReads<'c> {
    /// Maps the file for the next read transactions on `conn` (none for an in-memory database).
    pub(crate) fn start(conn: &'c Connection) -> MappedReads<'c> {
        let on = conn.path().is_some_and(|p| !p.is_empty())
            && conn
                .pragma_update(None, "mmap_size", MAPPED_READ_BYTES)
                .is_ok();
        MappedReads { conn, on }
    }
}

impl Drop for MappedReads<'_> {
    fn drop(&mut self) {
        if self.on {
            let _ = self.conn.pragma_update(None, "mmap_size", 0);
        }
    }
}

/// Creates `dir` and its missing parents, private to the user on unix.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| StateError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Creates `path` as an empty file readable only by the user, unless it exists.
pub(crate) fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// Moves the `-wal` and `-shm` files of a database file that is missing or empty into
/// `backups/`: they belong to a file that was deleted or truncated (a WAL-mode database is
/// never empty), and SQLite would otherwise replay the old log into the new file.
fn set_aside_stale_logs(path: &Path) {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        return;
    }
    set_aside_logs(path);
}

/// Moves the `-wal` and `-shm` files of `path` into `backups/`.
pub(crate) fn set_aside_logs(path: &Path) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = crate::migrate::backup_dir(path);
    for suffix in ["-wal", "-shm"] {
        let log = path.with_file_name(format!("{name}{suffix}"));
        if !log.exists() || create_private_dir(&dir).is_err() {
            continue;
        }
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let aside = dir.join(format!("{name}{suffix}.stale-{stamp}"));
        let _ = std::fs::rename(&log, &aside);
    }
}

/// Opens the database file at `path`, switching it to WAL and migrating it to `migrations`.
pub(crate) fn open_file(path: &Path, list: &[M<'static>]) -> Result<Connection, StateError> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    set_aside_stale_logs(path);
    // Best effort: SQLite would create the file anyway, just with the umask's permissions.
    let _ = create_private_file(path);
    let mut conn = Connection::open(path).map_err(|source| match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StateError::NotADatabase {
            path: path.to_path_buf(),
            source: Some(source.into()),
        },
        _ => StateError::Open {
            path: path.to_path_buf(),
            source: source.into(),
        },
    })?;
    configure(&conn, path)?;

    let started = Instant::now();
    let mut backed_up = None;
    loop {
        let retry_reason = match prepare_schema(&mut conn, path, list, &mut backed_up) {
            Ok(SetupStep::Ready) => return Ok(conn),
            Ok(SetupStep::Again(reason)) => reason,
            Err(err) if matches!(&err, StateError::Busy { .. }) => err,
            Err(err) => return Err(err),
        };
        if started.elapsed() >= OPEN_DEADLINE {
            return Err(retry_reason);
        }
        sleep(Duration::from_millis(5 + jitter(45)));
    }
}

/// Opens a private in-memory database migrated to `migrations`.
pub(crate) fn open_memory(list: &[M<'static>]) -> Result<Connection, StateError> {
    let mut conn = Connection::open_in_memory().map_err(|source| StateError::Open {
        path: ":memory:".into(),
        source: source.into(),
    })?;
    configure(&conn, Path::new(":memory:"))?;
    Migrations::from_slice(list)
        .to_latest(&mut conn)
        .map_err(|source| StateError::Migration {
            path: ":memory:".into(),
            from: 0,
            backups: "(none)".into(),
            source: Box::new(source),
        })?;
    Ok(conn)
}
