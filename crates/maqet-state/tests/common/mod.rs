//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use maqet_state::{NewVm, StateDb, StorageEntry};
use tempfile::TempDir;

/// A fresh directory and the path of a not-yet-existing database inside a subdirectory of it.
pub fn temp_db_path() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create temp dir");
    let path = dir.path().join("data").join("state.db");
    (dir, path)
}

/// An opened database in a fresh temporary directory.
pub fn temp_db() -> (TempDir, PathBuf, StateDb) {
    let (dir, path) = temp_db_path();
    let db = StateDb::open(&path).expect("open state db");
    (dir, path, db)
}

/// A VM definition with a small config.
pub fn new_vm(name: &str) -> NewVm {
    NewVm {
        name: name.to_owned(),
        config: serde_json::json!({ "name": name, "memory": "512M", "cpus": 2 }),
        config_paths: vec![PathBuf::from(format!("/etc/maqet/{name}.yaml"))],
    }
}

/// A storage entry for `vm_id` at `path`.
pub fn disk(vm_id: &str, path: &str, created_by_maqet: bool) -> StorageEntry {
    StorageEntry {
        vm_id: vm_id.to_owned(),
        path: PathBuf::from(path),
        role: "disk".to_owned(),
        created_by_maqet,
        size_bytes: Some(1 << 30),
        created_at: String::new(),
    }
}
