//! Many threads and processes opening one fresh database file and writing at once.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{disk, new_vm, temp_db_path};
use maqet_state::{StateDb, StateError, VmStatus};

const CHILD_DB: &str = "MAQET_STATE_TEST_CHILD_DB";
const CHILD_NAME: &str = "MAQET_STATE_TEST_CHILD_NAME";
const CHILD_GO: &str = "MAQET_STATE_TEST_CHILD_GO";

/// What each thread or process does: open, then add a VM with a disk and mark it running.
fn open_and_insert(path: &Path, name: &str) -> Result<(), StateError> {
    let db = StateDb::open(path)?;
    let vm = db.transaction(|tx| {
        let vm = tx.insert_vm(&new_vm(name))?;
        tx.register_storage(&disk(&vm.id, &format!("/vms/{name}.qcow2"), true))?;
        Ok::<_, StateError>(vm)
    })?;
    db.set_status(&vm.id, VmStatus::Running, None)?;
    db.get_vm(name).map(|_| ())
}

fn assert_all_present(path: &Path, names: &[String]) {
    let db = StateDb::open(path).expect("open for checking");
    let vms = db.list_vms(Some(VmStatus::Running)).expect("list");
    let mut found: Vec<String> = vms.into_iter().map(|v| v.name).collect();
    found.sort();
    let mut expected = names.to_vec();
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(db.all_storage().expect("storage").len(), names.len());
    assert!(db.integrity_check().expect("check").is_empty());
}

#[test]
fn fifty_threads_open_and_insert_at_once() {
    let (_dir, path) = temp_db_path();
    let barrier = Arc::new(Barrier::new(50));
    let names: Vec<String> = (0..50).map(|i| format!("thread-{i:02}")).collect();
    let handles: Vec<_> = names
        .iter()
        .map(|name| {
            let (barrier, path, name) = (Arc::clone(&barrier), path.clone(), name.clone());
            std::thread::spawn(move || {
                barrier.wait();
                open_and_insert(&path, &name)
            })
        })
        .collect();
    for handle in handles {
        let result = handle.join().expect("thread panicked");
        assert!(result.is_ok(), "a writer failed: {result:?}");
    }
    assert_all_present(&path, &names);
}

/// Not a test on its own: the body of each child process of `twenty_processes_...`.
#[test]
#[ignore = "run as a child process by twenty_processes_open_and_insert_at_once"]
fn child_process_open_and_insert() {
    let Some(path) = std::env::var_os(CHILD_DB).map(PathBuf::from) else {
        eprintln!("nothing to do: only meaningful when started by the parent test");
        return;
    };
    let name = std::env::var(CHILD_NAME).expect("child name");
    let go = PathBuf::from(std::env::var_os(CHILD_GO).expect("child go file"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !go.exists() {
        assert!(Instant::now() < deadline, "parent never said go");
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Err(err) = open_and_insert(&path, &name) {
        panic!("child {name} failed: {err} ({err:?})");
    }
}

#[test]
fn twenty_processes_open_and_insert_at_once() {
    let (dir, path) = temp_db_path();
    let go = dir.path().join("go");
    let exe = std::env::current_exe().expect("test binary path");
    let names: Vec<String> = (0..20).map(|i| format!("process-{i:02}")).collect();
    let children: Vec<_> = names
        .iter()
        .map(|name| {
            Command::new(&exe)
                .args([
                    "child_process_open_and_insert",
                    "--exact",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(CHILD_DB, &path)
                .env(CHILD_NAME, name)
                .env(CHILD_GO, &go)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn child test process")
        })
        .collect();
    std::fs::write(&go, b"go").expect("start children");
    for (name, child) in names.iter().zip(children) {
        let output = child.wait_with_output().expect("wait for child");
        assert!(
            output.status.success(),
            "child {name} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("1 passed"),
            "child {name} ran no test:\n{stdout}"
        );
    }
    assert_all_present(&path, &names);
}
