//! [`StateDb`], the handle to one state database, and [`Tx`], a write transaction on it.

use std::cell::RefCell;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, TransactionBehavior};
use rusqlite_migration::M;

use crate::error::sql;
use crate::migrate::MIGRATIONS;
use crate::{
    NewVm, RuntimeUpdate, StateError, StorageEntry, VmRecord, VmStatus, VmSummary, connection,
    storage, vm_file, vms,
};

/// The schema version this build creates and expects.
pub const LATEST_SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// An open state database. Cheap to open; safe to share between threads.
///
/// Reads never wait for writers. Every write runs in a `BEGIN IMMEDIATE` transaction and waits
/// up to [`BUSY_TIMEOUT`](crate::BUSY_TIMEOUT) for the lock, then fails with
/// [`StateError::Busy`].
#[derive(Debug)]
pub struct StateDb {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    /// Device and inode of the file when it was opened (to notice a replaced or deleted file).
    file_id: Mutex<Option<(u64, u64)>>,
}

/// A write transaction (`BEGIN IMMEDIATE`) handed to [`StateDb::transaction`]'s closure.
///
/// Do not call the `StateDb` from inside the closure; use these methods instead.
#[derive(Debug)]
pub struct Tx<'c> {
    conn: &'c Connection,
    /// Ids of the VMs this transaction changed, whose record files are rewritten after commit.
    touched: RefCell<Vec<String>>,
    /// Whether it changed anything beyond runtime state (see [`Durability`]).
    durability: std::cell::Cell<Durability>,
}

/// How hard a committed change must be kept, which decides how its record files are written.
///
/// Runtime state (status, processes, sockets) describes processes that a power loss ends
/// anyway: it must survive a crash of the writing process, not a crash of the machine, so its
/// record files are replaced atomically (`rename`) without `fsync`. Configuration and registry
/// changes (add, apply, rm, storage) are `fsync`ed before the command reports success. See
/// `docs/decisions/2026-12-02-durability-fsync-policy.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Only runtime columns changed: atomic against process crashes, no `fsync`.
    Runtime,
    /// Configuration or registry changed: on disk before the commit returns.
    Durable,
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl StateDb {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    ///
    /// Creates missing parent directories (mode 0700). When the schema is already current,
    /// nothing is written. Before upgrading an older schema the file is copied to
    /// `<dir>/backups/<stem>-v<old>-<UTC time>.db`; the newest five copies are kept.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        Self::open_with_migrations(path, MIGRATIONS)
    }

    /// Opens a private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, StateError> {
        Ok(Self {
            conn: Mutex::new(connection::open_memory(MIGRATIONS)?),
            path: None,
            file_id: Mutex::new(None),
        })
    }

    /// Like [`StateDb::open`] with another list of migrations (to test upgrades).
    pub(crate) fn open_with_migrations(
        path: &Path,
        list: &[M<'static>],
    ) -> Result<Self, StateError> {
        let conn = connection::open_file(path, list)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: Some(path.to_path_buf()),
            file_id: Mutex::new(file_id(path)),
        })
    }

    /// Opens the file again when the one opened was deleted or replaced (another inode now
    /// has its name), so a long-lived process writes where the others read. Says whether it
    /// reopened.
    pub fn reopen_if_replaced(&self) -> Result<bool, StateError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let now = file_id(path);
        let mut known = self.file_id.lock().unwrap_or_else(PoisonError::into_inner);
        if now.is_some() && now == *known {
            return Ok(false);
        }
        // Close the old connection first: its write-ahead log has the same name as the new
        // file's and must not be read as the new file's.
        let mut conn = self.conn();
        let placeholder = Connection::open_in_memory().map_err(|source| StateError::Open {
            path: ":memory:".into(),
            source: source.into(),
        })?;
        drop(std::mem::replace(&mut *conn, placeholder));
        // SQLite cannot checkpoint a file that was moved or deleted while open, so the log
        // left under the shared name is the old file's: set it aside.
        connection::set_aside_logs(path);
        *conn = connection::open_file(path, MIGRATIONS)?;
        *known = file_id(path);
        Ok(true)
    }

    /// The database file, or `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection, for the crate's other modules.
    pub(crate) fn lock_conn(&self) -> MutexGuard<'_, Connection> {
        self.conn()
    }

    /// Copies what the write-ahead log holds into the database file (a passive checkpoint:
    /// it never waits for other connections), with the `fsync`s that make it durable.
    ///
    /// For a long-lived process that wrote several transactions on one connection and wants
    /// that cost paid at a time of its choosing rather than when the last connection closes.
    pub fn checkpoint(&self) -> Result<(), StateError> {
        if self.path.is_none() {
            return Ok(());
        }
        self.conn()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(sql("checkpoint the write-ahead log"))
    }

    /// The schema version stored in the file.
    pub fn schema_version(&self) -> Result<u32, StateError> {
        self.conn()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sql("read the schema version"))
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it returns `Ok`, rolled back
    /// (nothing written) if it returns `Err` or panics.
    pub fn transaction<T, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StateError>,
    {
        let conn = self.conn();
        let tx = rusqlite::Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
            .map_err(sql("start a write transaction"))
            .map_err(E::from)?;
        let handle = Tx {
            conn: &tx,
            touched: RefCell::new(Vec::new()),
            durability: std::cell::Cell::new(Durability::Runtime),
        };
        let value = f(&handle)?;
        let touched = handle.touched.take();
        let durable = handle.durability.get() == Durability::Durable;
        tx.commit()
            .map_err(sql("commit the write transaction"))
            .map_err(E::from)?;
        self.sync_vm_files(&conn, touched, durable)
            .map_err(E::from)?;
        Ok(value)
    }

    /// Rewrites (or removes, for a VM that is gone) the record file of every VM in `ids`,
    /// with `fsync`s when `durable`.
    fn sync_vm_files(
        &self,
        conn: &Connection,
        mut ids: Vec<String>,
        durable: bool,
    ) -> Result<(), StateError> {
        let Some(db_path) = &self.path else {
            return Ok(());
        };
        ids.sort();
        ids.dedup();
        for id in ids {
            let path = vm_file::vm_file_path(db_path, &id);
            match vms::find_by_id(conn, &id)? {
                Some(vm) => {
                    let files = storage::for_vm(conn, &id)?;
                    vm_file::write_vm_file(&path, &vm, &files, durable)?;
                }
                None => vm_file::remove_vm_file(&path)?,
            }
        }
        Ok(())
    }

    /// Rewrites the record file of VM `id` from its row (e.g. after the file was lost).
    pub fn write_vm_file(&self, id: &str) -> Result<(), StateError> {
        let conn = self.conn();
        self.sync_vm_files(&conn, vec![id.to_owned()], true)
    }

    /// Puts a VM row back exactly as it was recorded (id, name, timestamps, runtime state),
    /// with its storage rows; fails with `NameTaken` when another VM has the name meanwhile.
    pub fn restore_vm(&self, vm: &VmRecord, storage: &[StorageEntry]) -> Result<(), StateError> {
        self.transaction(|tx| tx.restore_vm(vm, storage))
    }

    /// Adds a VM with the given id (a UUID the caller generated, e.g. to name its files first).
    pub fn insert_vm_with_id(&self, vm: &NewVm, id: &str) -> Result<VmRecord, StateError> {
        self.transaction(|tx| tx.insert_vm_with_id(vm, id))
    }

    /// Adds a VM (fresh UUID v4 id, status `created`); fails with `NameTaken` if the name is used.
    pub fn insert_vm(&self, vm: &NewVm) -> Result<VmRecord, StateError> {
        self.transaction(|tx| tx.insert_vm(vm))
    }

    /// The VM with this id, or else this name; fails with `VmNotFound`.
    pub fn get_vm(&self, name_or_id: &str) -> Result<VmRecord, StateError> {
        vms::get(&self.conn(), name_or_id)
    }

    /// The VM with this id, or else this name, if any.
    pub fn find_vm(&self, name_or_id: &str) -> Result<Option<VmRecord>, StateError> {
        vms::find(&self.conn(), name_or_id)
    }

    /// How many VMs the registry holds.
    pub fn vm_count(&self) -> Result<usize, StateError> {
        self.conn()
            .query_row("SELECT count(*) FROM vms", [], |row| row.get::<_, i64>(0))
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(sql("count the VMs"))
    }

    /// All VMs, or only those with `status`, ordered by creation time then name.
    pub fn list_vms(&self, status: Option<VmStatus>) -> Result<Vec<VmRecord>, StateError> {
        vms::list(&self.conn(), status)
    }

    /// Every VM, oldest first, with `config` set to `null` instead of read: for listings of
    /// many VMs (`maqet ls`), which need status and processes only.
    pub fn list_vms_brief(&self) -> Result<Vec<VmRecord>, StateError> {
        vms::list_brief(&self.conn())
    }

    /// Every VM's id, name, status and processes, oldest first (the order of
    /// [`StateDb::list_vms`]): the cheapest listing, for `maqet ls` of many VMs.
    pub fn list_vm_summaries(&self) -> Result<Vec<VmSummary>, StateError> {
        vms::list_summaries(&self.conn())
    }

    /// Whether any VM is registered; cheaper than [`StateDb::vm_count`] on a large registry.
    pub fn has_vms(&self) -> Result<bool, StateError> {
        vms::any(&self.conn())
    }

    /// Replaces the configuration and config paths of VM `id`; returns the updated record.
    pub fn update_config(
        &self,
        id: &str,
        config: &serde_json::Value,
        config_paths: &[PathBuf],
    ) -> Result<VmRecord, StateError> {
        self.transaction(|tx| tx.update_config(id, config, config_paths))
    }

    /// Replaces status, reason and every runtime column of VM `id` at once.
    pub fn set_runtime(&self, id: &str, update: &RuntimeUpdate) -> Result<(), StateError> {
        self.transaction(|tx| tx.set_runtime(id, update))
    }

    /// Sets the status and reason of VM `id`, leaving the runtime columns alone.
    pub fn set_status(
        &self,
        id: &str,
        status: VmStatus,
        reason: Option<&str>,
    ) -> Result<(), StateError> {
        self.transaction(|tx| tx.set_status(id, status, reason))
    }

    /// Atomically applies `update` if VM `id` is in one of the `expected` statuses; says whether it did.
    pub fn compare_and_set_status(
        &self,
        id: &str,
        expected: &[VmStatus],
        update: &RuntimeUpdate,
    ) -> Result<bool, StateError> {
        self.transaction(|tx| tx.compare_and_set_status(id, expected, update))
    }

    /// Removes VM `id` and its storage records (the files themselves are untouched).
    pub fn delete_vm(&self, id: &str) -> Result<(), StateError> {
        self.transaction(|tx| tx.delete_vm(id))
    }

    /// Removes every VM and storage record; returns how many VMs there were.
    pub fn delete_all(&self) -> Result<usize, StateError> {
        self.transaction(|tx| tx.delete_all())
    }

    /// Records a storage file of a VM; registering the same (VM, path) again updates it.
    pub fn register_storage(&self, entry: &StorageEntry) -> Result<(), StateError> {
        self.transaction(|tx| tx.register_storage(entry))
    }

    /// Storage files recorded for VM `vm_id`, in registration order.
    pub fn storage_for_vm(&self, vm_id: &str) -> Result<Vec<StorageEntry>, StateError> {
        storage::for_vm(&self.conn(), vm_id)
    }

    /// Every recorded storage file.
    pub fn all_storage(&self) -> Result<Vec<StorageEntry>, StateError> {
        storage::all(&self.conn())
    }

    /// Forgets one storage file of a VM; says whether it was recorded.
    pub fn unregister_storage(&self, vm_id: &str, path: &Path) -> Result<bool, StateError> {
        self.transaction(|tx| tx.unregister_storage(vm_id, path))
    }

    /// Problems found by `PRAGMA quick_check` and `PRAGMA foreign_key_check`; empty when healthy.
    pub fn integrity_check(&self) -> Result<Vec<String>, StateError> {
        let conn = self.conn();
        let action = "check the database";
        let mut problems: Vec<String> = conn
            .prepare("PRAGMA quick_check")
            .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
            .map_err(sql(action))?;
        problems.retain(|line| line != "ok");
        let orphans: Vec<String> = conn
            .prepare("PRAGMA foreign_key_check")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| {
                    let table: String = row.get(0)?;
                    let rowid: Option<i64> = row.get(1)?;
                    let parent: String = row.get(2)?;
                    Ok(format!(
                        "row {} of table {table} points to a missing row of {parent}",
                        rowid.map_or_else(|| "?".to_owned(), |r| r.to_string())
                    ))
                })?
                .collect()
            })
            .map_err(sql(action))?;
        problems.extend(orphans);
        Ok(problems)
    }
}

impl Tx<'_> {
    /// Marks VM `id`'s record file for rewriting after commit (runtime state only).
    fn touch(&self, id: &str) {
        self.touched.borrow_mut().push(id.to_owned());
    }

    /// Like [`Tx::touch`] for a change to configuration or the registry: the commit `fsync`s.
    fn touch_durably(&self, id: &str) {
        self.durability.set(Durability::Durable);
        self.touch(id);
    }

    /// See [`StateDb::insert_vm`].
    pub fn insert_vm(&self, vm: &NewVm) -> Result<VmRecord, StateError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.insert_vm_with_id(vm, &id)
    }

    /// See [`StateDb::insert_vm_with_id`].
    pub fn insert_vm_with_id(&self, vm: &NewVm, id: &str) -> Result<VmRecord, StateError> {
        let record = vms::insert(self.conn, vm, id)?;
        self.touch_durably(&record.id);
        Ok(record)
    }

    /// See [`StateDb::restore_vm`].
    pub fn restore_vm(&self, vm: &VmRecord, files: &[StorageEntry]) -> Result<(), StateError> {
        vms::restore(self.conn, vm)?;
        for entry in files {
            storage::restore(self.conn, entry)?;
        }
        self.touch_durably(&vm.id);
        Ok(())
    }

    /// See [`StateDb::get_vm`].
    pub fn get_vm(&self, name_or_id: &str) -> Result<VmRecord, StateError> {
        vms::get(self.conn, name_or_id)
    }

    /// See [`StateDb::find_vm`].
    pub fn find_vm(&self, name_or_id: &str) -> Result<Option<VmRecord>, StateError> {
        vms::find(self.conn, name_or_id)
    }

    /// See [`StateDb::list_vms`].
    pub fn list_vms(&self, status: Option<VmStatus>) -> Result<Vec<VmRecord>, StateError> {
        vms::list(self.conn, status)
    }

    /// See [`StateDb::update_config`].
    pub fn update_config(
        &self,
        id: &str,
        config: &serde_json::Value,
        config_paths: &[PathBuf],
    ) -> Result<VmRecord, StateError> {
        self.touch_durably(id);
        vms::update_config(self.conn, id, config, config_paths)
    }

    /// See [`StateDb::set_runtime`].
    pub fn set_runtime(&self, id: &str, update: &RuntimeUpdate) -> Result<(), StateError> {
        self.touch(id);
        vms::set_runtime(self.conn, id, update)
    }

    /// See [`StateDb::set_status`].
    pub fn set_status(
        &self,
        id: &str,
        status: VmStatus,
        reason: Option<&str>,
    ) -> Result<(), StateError> {
        self.touch(id);
        vms::set_status(self.conn, id, status, reason)
    }

    /// See [`StateDb::compare_and_set_status`].
    pub fn compare_and_set_status(
        &self,
        id: &str,
        expected: &[VmStatus],
        update: &RuntimeUpdate,
    ) -> Result<bool, StateError> {
        self.touch(id);
        vms::compare_and_set_status(self.conn, id, expected, update)
    }

    /// See [`StateDb::delete_vm`].
    pub fn delete_vm(&self, id: &str) -> Result<(), StateError> {
        self.touch_durably(id);
        vms::delete(self.conn, id)
    }

    /// See [`StateDb::delete_all`].
    pub fn delete_all(&self) -> Result<usize, StateError> {
        for id in vms::all_ids(self.conn)? {
            self.touch_durably(&id);
        }
        vms::delete_all(self.conn)
    }

    /// See [`StateDb::register_storage`].
    pub fn register_storage(&self, entry: &StorageEntry) -> Result<(), StateError> {
        self.touch_durably(&entry.vm_id);
        storage::register(self.conn, entry)
    }

    /// See [`StateDb::storage_for_vm`].
    pub fn storage_for_vm(&self, vm_id: &str) -> Result<Vec<StorageEntry>, StateError> {
        storage::for_vm(self.conn, vm_id)
    }

    /// See [`StateDb::all_storage`].
    pub fn all_storage(&self) -> Result<Vec<StorageEntry>, StateError> {
        storage::all(self.conn)
    }

    /// See [`StateDb::unregister_storage`].
    pub fn unregister_storage(&self, vm_id: &str, path: &Path) -> Result<bool, StateError> {
        self.touch_durably(vm_id);
        storage::unregister(self.conn, vm_id, path)
    }
}
