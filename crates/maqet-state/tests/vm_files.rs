//! Each VM's record file (`vms/<id>/vm.json`) follows every change, and rebuilds a lost row.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{disk, new_vm, temp_db};
use maqet_state::{
    ProcessIdentity, RuntimeUpdate, StateDb, VmStatus, online_backups, read_vm_file, scan_vm_files,
    vm_file_path, vms_root,
};

#[test]
fn the_record_file_follows_every_change_and_goes_with_the_vm() {
    let (_dir, path, db) = temp_db();
    let vm = db.insert_vm(&new_vm("web")).expect("insert");
    let file = vm_file_path(&path, &vm.id);
    let dir = file.parent().expect("dir").to_path_buf();
    let read = || read_vm_file(&dir).expect("readable").expect("present");
    assert_eq!(read().vm, vm);

    db.register_storage(&disk(&vm.id, "/var/lib/maqet/web.qcow2", true))
        .expect("register");
    let update = RuntimeUpdate {
        qemu: Some(ProcessIdentity {
            pid: 77,
            start_time: 88,
        }),
        ..RuntimeUpdate::cleared(VmStatus::Running).with_reason("starting")
    };
    db.set_runtime(&vm.id, &update).expect("set runtime");
    let on_disk = read();
    assert_eq!(on_disk.vm.status, VmStatus::Running);
    assert_eq!(on_disk.vm.qemu.map(|q| q.pid), Some(77));
    assert_eq!(on_disk.storage.len(), 1);
    // No temporary files are left next to it.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["vm.json".to_owned()]);

    db.delete_vm(&vm.id).expect("delete");
    assert!(!file.exists(), "a removed VM's record file must go");
}

#[test]
fn a_deleted_database_is_rebuilt_from_the_record_files() {
    let (_dir, path, db) = temp_db();
    let vm = db.insert_vm(&new_vm("web")).expect("insert");
    db.register_storage(&disk(&vm.id, "/var/lib/maqet/web.qcow2", true))
        .expect("register");
    let before = db.get_vm(&vm.id).expect("get");
    drop(db);
    std::fs::remove_file(&path).expect("delete the database");

    let fresh = StateDb::open(&path).expect("a new empty database");
    assert!(fresh.list_vms(None).expect("list").is_empty());
    let found = scan_vm_files(&vms_root(&path));
    assert_eq!(found.len(), 1);
    let (_, file) = found.into_iter().next().expect("one").expect("readable");
    fresh.restore_vm(&file.vm, &file.storage).expect("restore");
    assert_eq!(fresh.get_vm("web").expect("back"), before);
    assert_eq!(fresh.storage_for_vm(&vm.id).expect("storage").len(), 1);
}

#[test]
fn a_replaced_database_is_reopened() {
    let (_dir, path, db) = temp_db();
    let vm = db.insert_vm(&new_vm("web")).expect("insert");
    assert!(!db.reopen_if_replaced().expect("same file"));
    let other = path.with_file_name("other.db");
    let second = StateDb::open(&other).expect("open other");
    second.insert_vm(&new_vm("db")).expect("insert");
    drop(second);
    std::fs::rename(&other, &path).expect("replace");
    assert!(db.reopen_if_replaced().expect("reopen"));
    assert!(db.find_vm(&vm.id).expect("find").is_none());
    assert!(db.find_vm("db").expect("find").is_some());
}

#[test]
fn online_backups_are_real_databases_and_rotated() {
    let (_dir, path, db) = temp_db();
    db.insert_vm(&new_vm("web")).expect("insert");
    for _ in 0..7 {
        db.backup_online()
            .expect("backup")
            .expect("a file database");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let backups = online_backups(&path);
    assert_eq!(backups.len(), maqet_state::ONLINE_BACKUPS_KEPT);
    assert_eq!(
        maqet_state::newest_online_backup(&path),
        backups.first().cloned(),
        "the newest found with one stat is the first of the full listing"
    );
    let copy = StateDb::open(&backups[0].0).expect("the backup opens");
    assert!(copy.find_vm("web").expect("find").is_some());
}

#[test]
fn there_is_no_newest_online_backup_before_the_first() {
    let (_dir, path, db) = temp_db();
    db.insert_vm(&new_vm("web")).expect("insert");
    assert_eq!(maqet_state::newest_online_backup(&path), None);
}

#[test]
fn a_checkpoint_moves_runtime_writes_into_the_database_file_while_the_connection_stays_open() {
    let (_dir, path, db) = temp_db();
    let vm = db.insert_vm(&new_vm("web")).expect("insert");
    // A second connection stays open, as the CLI's does during a start: closing the writer's
    // would not be the last close, so nothing would checkpoint without `checkpoint()`.
    let other = StateDb::open(&path).expect("second connection");
    db.set_runtime(
        &vm.id,
        &RuntimeUpdate::cleared(VmStatus::Running).with_reason("started"),
    )
    .expect("set runtime");
    db.checkpoint().expect("checkpoint");

    // The database file alone, without its log, already holds the runtime write.
    let copy_dir = tempfile::tempdir().expect("tempdir");
    let copy = copy_dir.path().join("maqet.db");
    std::fs::copy(&path, &copy).expect("copy the database file only");
    let alone = StateDb::open(&copy).expect("open the copy");
    assert_eq!(alone.get_vm(&vm.id).expect("row").status, VmStatus::Running);
    drop(other);
    assert!(
        StateDb::open_in_memory()
            .expect("memory")
            .checkpoint()
            .is_ok()
    );
}
