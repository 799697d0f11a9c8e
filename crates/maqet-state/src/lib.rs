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
mod storage;
mod vms;

pub use connection::BUSY_TIMEOUT;
pub use db::{LATEST_SCHEMA_VERSION, StateDb, Tx};
pub use error::{StateError, StateErrorKind};
pub use migrate::{BACKUPS_KEPT, backup_dir};
pub use model::{NewVm, ProcessIdentity, RuntimeUpdate, StorageEntry, VmRecord, VmStatus};

#[cfg(test)]
mod migrate_tests;
