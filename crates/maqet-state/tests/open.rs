//! Opening database files: fresh, current, foreign, newer, or locked by a writer.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{new_vm, temp_db, temp_db_path};
use maqet_state::{ErrorKind, LATEST_SCHEMA_VERSION, StateDb, StateError, VmStatus, backup_dir};
use rusqlite::Connection;

#[test]
fn fresh_database_is_private_wal_and_current_without_backup() {
    let (_dir, path, db) = temp_db();
    assert_eq!(db.schema_version().expect("version"), LATEST_SCHEMA_VERSION);
    assert_eq!(db.path(), Some(path.as_path()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let parent = path.parent().expect("parent");
        let dir_mode = std::fs::metadata(parent).expect("dir").permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let file_mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(
            file_mode & 0o077,
            0,
            "database readable by others: {file_mode:o}"
        );
    }
    let raw = Connection::open(&path).expect("raw open");
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    assert!(
        !backup_dir(&path).exists(),
        "a fresh database needs no backup"
    );
}

#[test]
fn reopening_a_current_database_makes_no_backup() {
    let (_dir, path, db) = temp_db();
    db.insert_vm(&new_vm("web")).expect("insert");
    drop(db);
    let db = StateDb::open(&path).expect("reopen");
    assert_eq!(db.list_vms(None).expect("list").len(), 1);
    assert!(!backup_dir(&path).exists());
}

#[test]
fn opening_a_current_database_does_not_wait_for_a_busy_writer() {
    let (_dir, path, db) = temp_db();
    db.insert_vm(&new_vm("committed")).expect("insert");
    drop(db);

    // Another process is in the middle of a long write.
    let writer = Connection::open(&path).expect("writer");
    writer.execute_batch("BEGIN IMMEDIATE").expect("lock");
    writer
        .execute(
            "INSERT INTO vms (id, name, config, config_paths, status) \
             VALUES ('x', 'uncommitted', '{}', '[]', 'created')",
            [],
        )
        .expect("insert");

    // If open or a read needed the write lock, these would fail with Busy.
    let reader = StateDb::open(&path).expect("open while a writer holds the lock");
    let names: Vec<String> = reader
        .list_vms(None)
        .expect("list")
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["committed"]);
    writer.execute_batch("COMMIT").expect("commit");
    assert_eq!(reader.list_vms(None).expect("list").len(), 2);
}

#[test]
fn text_file_is_not_a_database() {
    let (_dir, path) = temp_db_path();
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, "name: web\nmemory: 2G\n".repeat(100)).expect("write");
    let err = StateDb::open(&path).expect_err("text file");
    assert!(
        matches!(&err, StateError::NotADatabase { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("moves it aside"),
        "{msg}"
    );
    // The user's file is left as it was.
    assert!(
        std::fs::read_to_string(&path)
            .expect("read")
            .starts_with("name: web")
    );
}

#[test]
fn another_programs_sqlite_file_is_not_touched() {
    let (_dir, path) = temp_db_path();
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let other = Connection::open(&path).expect("create");
    other
        .execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
        .expect("table");
    drop(other);
    let err = StateDb::open(&path).expect_err("foreign database");
    assert!(matches!(err, StateError::NotADatabase { .. }), "{err:?}");
    let other = Connection::open(&path).expect("reopen");
    let tables: i64 = other
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'vms'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(tables, 0);
}

#[test]
fn database_from_a_newer_maqet_is_refused() {
    let (_dir, path, db) = temp_db();
    drop(db);
    let raw = Connection::open(&path).expect("raw");
    raw.pragma_update(None, "user_version", LATEST_SCHEMA_VERSION + 6)
        .expect("bump");
    drop(raw);
    let err = StateDb::open(&path).expect_err("too new");
    match &err {
        StateError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(
                (*found, *supported),
                (LATEST_SCHEMA_VERSION + 6, LATEST_SCHEMA_VERSION)
            );
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(err.to_string().contains("upgrade maqet"), "{err}");
}

#[test]
fn unknown_status_written_by_a_newer_maqet_is_a_clear_error() {
    let (_dir, path, db) = temp_db();
    let vm = db.insert_vm(&new_vm("web")).expect("insert");
    let raw = Connection::open(&path).expect("raw");
    raw.execute(
        "UPDATE vms SET status = 'hibernating' WHERE id = ?1",
        [&vm.id],
    )
    .expect("update");
    let err = db.get_vm("web").expect_err("unknown status");
    assert!(
        matches!(&err, StateError::InvalidStoredValue { column: "status", vm_id, .. } if *vm_id == vm.id),
        "{err:?}"
    );
    let cause = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(cause.contains("hibernating"), "{cause}");
    // Other rows stay readable through a status filter.
    db.insert_vm(&new_vm("ok")).expect("insert");
    assert_eq!(db.list_vms(Some(VmStatus::Created)).expect("list").len(), 1);
}

#[test]
fn integrity_check_is_clean_when_healthy_and_reports_orphaned_storage() {
    let (_dir, path, db) = temp_db();
    db.insert_vm(&new_vm("web")).expect("insert");
    assert_eq!(db.integrity_check().expect("check"), Vec::<String>::new());

    // Another tool writes with foreign keys not enforced.
    let raw = Connection::open(&path).expect("raw");
    raw.pragma_update(None, "foreign_keys", false)
        .expect("fk off");
    raw.execute(
        "INSERT INTO storage (vm_id, path, role, created_by_maqet) VALUES ('gone', '/x.qcow2', 'disk', 1)",
        [],
    )
    .expect("orphan");
    let problems = db.integrity_check().expect("check");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("storage"), "{problems:?}");
}
