//! Editing and holding maqet's state database (SQLite) from a test, as another process would.
//!
//! The tests change rows behind maqet's back (a runner that died before recording anything, a
//! row pointing at an unrelated PID) and hold the database open or locked while `maqet` runs.
//! They use rusqlite, the same SQLite that `maqet-state` links, so no outside tool is needed.
//! SQLite's locks are per process, so a lock taken here is seen by the `maqet` child process.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, Params};

/// How long a statement here waits for maqet to release the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn open(db: &Path) -> Connection {
    let conn = Connection::open(db)
        .unwrap_or_else(|e| panic!("cannot open the state database {}: {e}", db.display()));
    conn.busy_timeout(BUSY_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot set a busy timeout on {}: {e}", db.display()));
    conn
}

/// Runs one SQL statement with `params` on `db` and returns how many rows it changed.
///
/// # Panics
/// When the database cannot be opened or the statement fails.
pub fn execute(db: &Path, sql: &str, params: impl Params) -> usize {
    open(db)
        .execute(sql, params)
        .unwrap_or_else(|e| panic!("`{sql}` failed on {}: {e}", db.display()))
}

/// Folds the write-ahead log into the main file (as SQLite does on its own from time to time).
///
/// # Panics
/// When the checkpoint fails.
pub fn checkpoint(db: &Path) {
    let conn = open(db);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap_or_else(|e| panic!("cannot checkpoint {}: {e}", db.display()));
}

/// Waits until no other process has `db` (or its `-wal`) open, so that nothing writes the
/// main file behind the test's back: a runner checkpoints and closes its connection only after
/// its ready report, so just after `maqet start` it may still fold pages into the file.
///
/// # Panics
/// When some process still has the file open after 30 seconds.
pub fn wait_until_closed_by_others(db: &Path) {
    let wal = db.with_file_name(format!(
        "{}-wal",
        db.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let own = std::process::id().to_string();
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        let holders: Vec<String> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()) && *pid != own)
            .filter(|pid| {
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                    .any(|target| target == db || target == wal)
            })
            .collect();
        if holders.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "processes {holders:?} still hold {} open",
            db.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A connection to the state database kept open (after running a statement such as
/// `BEGIN EXCLUSIVE`) on a thread of the test until the value is dropped.
#[derive(Debug)]
pub struct HeldDatabase {
    release: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HeldDatabase {
    /// Opens `db`, runs `sql` (reading any rows it returns), and keeps the connection, with
    /// whatever lock or transaction `sql` left open, until the value is dropped.
    ///
    /// # Panics
    /// When the database cannot be opened or `sql` fails.
    pub fn hold(db: &Path, sql: &str) -> Self {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let path = db.to_path_buf();
        let statement = sql.to_owned();
        let thread = std::thread::spawn(move || {
            let conn = open(&path);
            let ran = conn
                .prepare(&statement)
                .and_then(|mut stmt| {
                    let mut rows = stmt.query([])?;
                    while rows.next()?.is_some() {}
                    Ok(())
                })
                .map_err(|e| format!("`{statement}` failed on {}: {e}", path.display()));
            let failed = ran.is_err();
            let _ = ready_tx.send(ran);
            if !failed {
                // Returns when the sender is dropped (or sends): then the connection closes.
                let _ = release_rx.recv();
            }
            drop(conn);
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Self {
                release: Some(release_tx),
                thread: Some(thread),
            },
            Ok(Err(message)) => panic!("{message}"),
            Err(_) => panic!("the thread holding {} died", db.display()),
        }
    }
}

impl Drop for HeldDatabase {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
