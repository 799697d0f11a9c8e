//! SQLite persistence for maqet: the registry of VMs and of the storage files kept for them.
//!
//! One [`StateDb`] wraps one connection to a database file. The file is shared by many
//! short-lived `maqet` processes and by one long-lived `maqet-runner` per running VM, so:
//!
//! - the file runs in WAL mode: readers never wait for writers, and opening a database whose
//!   schema is current writes nothing;
//! - every write is one `BEGIN IMMEDIATE` transaction; a process waiting for the lock sleeps with
//!   jitter for up to [`BUSY_TIMEOUT`] before giving up with [`StateError::Busy`];
//! - the schema is versioned (`PRAGMA user_version`); an older file is backed up to
//!   `backups/` next to it before it is upgraded, and a newer one is refused.
//!
//! Every committed change to a VM is also written to that VM's record file
//! (`<dir>/vms/<id>/vm.json`, see [`VmFile`]), atomically, so the registry can be rebuilt from
//! those files when the database file is lost or damaged; [`StateDb::backup_online`] keeps
//! recent copies of the database itself.
//!
//! [`StateDb::transaction`] groups several steps (check a name, add the VM, record its disks)
//! so that either all of them land or none does.
//!
//! ```
//! use maqet_state::{NewVm, StateDb, StorageEntry, VmStatus};
//!
//! # fn main() -> Result<(), maqet_state::StateError> {
//! # let dir = std::env::temp_dir().join(format!("maqet-state-doc-{}", std::process::id()));
//! let db = StateDb::open(&dir.join("state.db"))?;
//! let vm = db.transaction(|tx| {
//!     let vm = tx.insert_vm(&NewVm {
//!         name: "web".into(),
//!         config: serde_json::json!({ "memory": "2G" }),
//!         config_paths: vec!["/etc/maqet/web.yaml".into()],
//!     })?;
//!     tx.register_storage(&StorageEntry {
//!         vm_id: vm.id.clone(),
//!         path: "/var/lib/maqet/web/disk.qcow2".into(),
//!         role: "disk".into(),
//!         created_by_maqet: true,
//!         size_bytes: None,
//!         created_at: String::new(),
//!     })?;
//!     Ok::<_, maqet_state::StateError>(vm)
//! })?;
//! assert_eq!(db.get_vm("web")?.status, VmStatus::Created);
//! assert_eq!(db.storage_for_vm(&vm.id)?.len(), 1);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

mod connection;
mod db;
mod error;
mod migrate;
mod model;
mod online_backup;
mod storage;
mod vm_file;
mod vms;

pub use connection::BUSY_TIMEOUT;
pub use db::{LATEST_SCHEMA_VERSION, StateDb, Tx};
pub use error::{ErrorKind, SqliteError, StateError};
pub use migrate::{BACKUPS_KEPT, backup_dir};
pub use model::{
    NewVm, ProcessIdentity, RuntimeUpdate, StorageEntry, VmRecord, VmStatus, VmSummary,
};
pub use online_backup::{ONLINE_BACKUPS_KEPT, newest_online_backup, online_backups};
pub use vm_file::{
    VM_FILE_NAME, VmFile, read_vm_file, scan_vm_files, vm_file_path, vms_root, write_atomically,
    write_replacing,
};

#[cfg(test)]
mod migrate_tests;

/// The README's example, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
