//! Issue L §2 and §3: the VM registry survives losing `maqet.db` (deleted, truncated,
//! corrupted, replaced while a VM runs), and a VM's identity is its id (its data directory is
//! `<data>/vms/<id>`, so a new VM reusing a removed VM's name never inherits its files).
//!
//! The damage is done to the real SQLite file on disk while a real QEMU runs. Every VM has no
//! OS (`memory: 64M`, `accel: tcg`) and one qcow2 disk.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use maqet_tests::cli::{
    add, describe, fails_with, maqet, maqet_json, maqet_stdout, no_os_config, status, vm_data_dir,
    vm_id,
};
use maqet_tests::{MaqetHome, qemu_pids_mentioning};
use serde_json::Value;

const DISK: &str = "storage:\n  - name: hdd\n    type: qcow2\n    size: 16M\n";

fn add_vm(home: &MaqetHome, name: &str, extra: &str) {
    add(home, name, &no_os_config(name, extra));
}

fn db_path(home: &MaqetHome) -> PathBuf {
    home.data_dir().join("maqet.db")
}

/// A running VM `vm1` with a disk; returns (its QEMU pid, its runtime dir, its disk).
fn running_vm(home: &MaqetHome) -> (u32, PathBuf, PathBuf) {
    add_vm(home, "vm1", DISK);
    let started = maqet_json(home, &["start", "vm1"]);
    let pid = u32::try_from(started["pid"].as_u64().expect("pid")).expect("u32 pid");
    let dir = home.runtime_dir().join("vms").join(vm_id(home, "vm1"));
    (pid, dir, vm_data_dir(home, "vm1").join("hdd.qcow2"))
}

/// `ls` shows vm1 running with QEMU `pid`.
fn assert_listed_running(home: &MaqetHome, pid: u32) {
    let rows = maqet_json(home, &["ls"]);
    let row = rows
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "vm1"))
        .unwrap_or_else(|| panic!("vm1 is missing from `ls` while its QEMU runs: {rows}"));
    assert_eq!(row["status"], "running", "{rows}");
    assert_eq!(row["pid"], pid, "{rows}");
}

/// After the damage: the VM is listed, one command stops it cleanly, its disk is intact, and
/// the runtime dir was never removed while QEMU ran.
fn assert_recovers(home: &MaqetHome, pid: u32, runtime_dir: &Path, disk: &Path) {
    assert_listed_running(home, pid);
    assert_eq!(qemu_pids_mentioning(runtime_dir), vec![pid]);
    let answer = maqet_json(home, &["qmp", "vm1", "query-status"]);
    assert_eq!(answer["running"], true, "{answer}");
    maqet_stdout(home, &["stop", "vm1", "--force"]);
    assert!(qemu_pids_mentioning(runtime_dir).is_empty());
    assert_eq!(status(home, "vm1")["status"], "stopped");
    let check = Command::new("qemu-img")
        .args(["check", "-U"])
        .arg(disk)
        .output()
        .expect("qemu-img runs");
    assert!(check.status.success(), "{} damaged", disk.display());
    maqet_stdout(home, &["start", "vm1"]);
    assert_eq!(qemu_pids_mentioning(runtime_dir).len(), 1);
}

#[test]
fn a_deleted_database_is_refilled_from_the_vm_record_files() {
    let home = MaqetHome::new();
    let (pid, dir, disk) = running_vm(&home);
    std::fs::remove_file(db_path(&home)).expect("delete maqet.db");
    assert_recovers(&home, pid, &dir, &disk);
}

#[test]
fn a_truncated_database_is_refilled_from_the_vm_record_files() {
    let home = MaqetHome::new();
    let (pid, dir, disk) = running_vm(&home);
    std::fs::File::create(db_path(&home)).expect("truncate maqet.db");
    assert_recovers(&home, pid, &dir, &disk);
}

/// Overwrites pages 2..4 of the file with garbage (the header stays, so SQLite opens it).
fn corrupt(path: &Path) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open maqet.db");
    file.seek(SeekFrom::Start(4096)).expect("seek");
    file.write_all(&[0xA5; 3 * 4096]).expect("write garbage");
    file.sync_all().expect("sync");
}

#[test]
fn a_corrupted_database_fails_fast_and_state_rebuild_restores_it() {
    let home = MaqetHome::new();
    let (pid, dir, disk) = running_vm(&home);
    // Let every change reach the main file, then damage it.
    maqet_stdout(&home, &["stop", "vm1", "--force"]);
    maqet_stdout(&home, &["start", "vm1"]);
    let pid = qemu_pids_mentioning(&dir).first().copied().unwrap_or(pid);
    maqet_tests::sqlite::wait_until_closed_by_others(&db_path(&home));
    maqet_tests::sqlite::checkpoint(&db_path(&home));
    corrupt(&db_path(&home));

    let out = maqet(&home, &["ls"]);
    assert!(!out.status.success(), "{}", describe(&["ls"], &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("maqet state rebuild"), "{stderr}");
    assert!(!stderr.contains("another maqet process"), "{stderr}");

    let doctor = maqet(&home, &["doctor", "--format", "json"]);
    let report: Value = serde_json::from_slice(&doctor.stdout)
        .unwrap_or_else(|e| panic!("doctor JSON ({e}): {}", describe(&["doctor"], &doctor)));
    assert_eq!(report["healthy"], false, "{report}");
    let detail = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "database"))
        .map(|c| c["detail"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let backup = detail
        .split("restore the backup ")
        .nth(1)
        .map(|rest| PathBuf::from(rest.trim()))
        .unwrap_or_else(|| panic!("doctor names no backup: {detail}"));
    assert!(
        backup.is_file(),
        "the backup {} must exist",
        backup.display()
    );

    let rebuilt = maqet_json(&home, &["state", "rebuild"]);
    assert!(rebuilt["moved_aside"].as_str().is_some(), "{rebuilt}");
    assert!(
        rebuilt["running"]
            .as_array()
            .is_some_and(|r| r.iter().any(|n| n == "vm1")),
        "{rebuilt}"
    );
    assert_recovers(&home, pid, &dir, &disk);
}

#[test]
fn a_database_replaced_by_a_text_file_is_fixed_by_doctor() {
    let home = MaqetHome::new();
    let (pid, dir, disk) = running_vm(&home);
    std::fs::write(db_path(&home), "not a database\n".repeat(400)).expect("replace");
    let stderr = fails_with(&home, &["status", "vm1"], 1);
    assert!(stderr.contains("maqet state rebuild"), "{stderr}");
    let report = maqet_json(&home, &["doctor", "--fix"]);
    assert_eq!(report["healthy"], true, "{report}");
    assert_eq!(report["removed_runtime_dirs"], Value::Array(Vec::new()));
    assert!(dir.join("qmp.sock").exists(), "the live sockets stay");
    assert_recovers(&home, pid, &dir, &disk);
}

#[test]
fn a_database_replaced_by_another_one_still_lists_the_running_vm() {
    let home = MaqetHome::new();
    let (pid, dir, disk) = running_vm(&home);
    let other = MaqetHome::new();
    add_vm(&other, "stranger", "");
    maqet_stdout(&other, &["ls"]);
    std::fs::copy(other.data_dir().join("maqet.db"), db_path(&home)).expect("replace");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(home.data_dir().join(format!("maqet.db{suffix}")));
    }
    assert_recovers(&home, pid, &dir, &disk);
    let report = maqet_json(&home, &["doctor"]);
    assert_eq!(report["healthy"], true, "{report}");
}

#[test]
fn a_name_that_looks_like_an_id_is_refused() {
    let home = MaqetHome::new();
    add_vm(&home, "web", "");
    let id = vm_id(&home, "web");
    for name in [id.as_str(), "0b6e3c1a-5f1e-4c8e-9d2a-7a1b2c3d4e5f"] {
        let stderr = fails_with(&home, &["add", "--empty", "--name", name], 3);
        assert!(stderr.contains("id"), "{stderr}");
        fails_with(&home, &["clone", "web", name], 3);
    }
}

#[test]
fn a_new_vm_reusing_a_removed_name_never_touches_its_files() {
    let home = MaqetHome::new();
    add_vm(&home, "base", DISK);
    maqet_stdout(&home, &["start", "base"]);
    maqet_stdout(&home, &["stop", "base", "--force"]);
    let old_dir = vm_data_dir(&home, "base");
    let backing = old_dir.join("hdd.qcow2");
    assert!(backing.is_file());
    maqet_stdout(&home, &["clone", "base", "clone1", "--linked"]);
    maqet_stdout(&home, &["rm", "base", "--clean-storage"]);
    assert!(backing.is_file(), "the clone's backing file must stay");
    let before = maqet_tests::sha256_of_file(&backing);

    add_vm(&home, "base", DISK);
    let new_dir = vm_data_dir(&home, "base");
    assert_ne!(new_dir, old_dir, "a new VM gets a new directory");
    maqet_stdout(&home, &["start", "base"]);
    maqet_stdout(&home, &["stop", "base", "--force"]);
    assert!(new_dir.join("hdd.qcow2").is_file());
    assert_eq!(
        maqet_tests::sha256_of_file(&backing),
        before,
        "the old base disk was written"
    );
    let verify = maqet_json(&home, &["storage", "verify", "clone1"]);
    assert_eq!(verify["ok"], true, "{verify}");
    maqet_stdout(&home, &["start", "clone1"]);
    maqet_stdout(&home, &["stop", "clone1", "--force"]);
}

#[test]
fn an_old_name_keyed_data_dir_keeps_working() {
    let home = MaqetHome::new();
    add_vm(&home, "web", DISK);
    maqet_stdout(&home, &["start", "web"]);
    maqet_stdout(&home, &["stop", "web", "--force"]);
    // Make it look like an older maqet's layout: `<data>/vms/web`, no id directory, no marker.
    let by_id = vm_data_dir(&home, "web");
    let by_name = home.data_dir().join("vms/web");
    std::fs::rename(&by_id, &by_name).expect("rename");
    std::fs::remove_file(by_name.join("vm.json")).expect("old layouts have no vm.json");
    std::fs::remove_file(home.data_dir().join("vms/.layout-by-id")).expect("marker");

    let verify = maqet_json(&home, &["storage", "verify", "web"]);
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(
        by_id
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink()),
        "{} must link to the old directory",
        by_id.display()
    );
    assert!(
        by_name.join("vm.json").is_file(),
        "the record file is written"
    );
    maqet_stdout(&home, &["start", "web"]);
    maqet_stdout(&home, &["stop", "web", "--force"]);
    let orphans = maqet_json(&home, &["storage", "orphaned"]);
    assert_eq!(orphans, Value::Array(Vec::new()));
    maqet_stdout(&home, &["rm", "web", "--clean-storage"]);
}
