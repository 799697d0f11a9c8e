//! Upgrading an existing database: backups, pruning, failures and concurrent upgraders.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use rusqlite::Connection;
use rusqlite_migration::M;

use crate::migrate::MIGRATIONS;
use crate::{BACKUPS_KEPT, NewVm, StateDb, StateError, backup_dir};

/// Schema v1 followed by `extra` more versions, each adding one column.
fn migrations_up_to(extra: usize) -> Vec<M<'static>> {
    const COLUMNS: [&str; 8] = [
        "ALTER TABLE vms ADD COLUMN note1 TEXT",
        "ALTER TABLE vms ADD COLUMN note2 TEXT",
        "ALTER TABLE vms ADD COLUMN note3 TEXT",
        "ALTER TABLE vms ADD COLUMN note4 TEXT",
        "ALTER TABLE vms ADD COLUMN note5 TEXT",
        "ALTER TABLE vms ADD COLUMN note6 TEXT",
        "ALTER TABLE vms ADD COLUMN note7 TEXT",
        "ALTER TABLE vms ADD COLUMN note8 TEXT",
    ];
    let mut list = MIGRATIONS.to_vec();
    list.extend(COLUMNS[..extra].iter().map(|sql| M::up(sql)));
    list
}

fn v1_with_one_vm() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    let db = StateDb::open(&path).expect("open v1");
    db.insert_vm(&NewVm {
        name: "keep".into(),
        config: serde_json::json!({ "memory": "1G" }),
        config_paths: vec![],
    })
    .expect("insert");
    (dir, path)
}

/// Backup file names (`*.db`) in `dir`, sorted.
fn backups(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".db"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn upgrade_backs_up_the_old_version_first() {
    let (_dir, path) = v1_with_one_vm();
    let db = StateDb::open_with_migrations(&path, &migrations_up_to(1)).expect("upgrade");
    assert_eq!(db.schema_version().expect("version"), 2);
    assert_eq!(db.get_vm("keep").expect("data kept").config["memory"], "1G");

    let names = backups(&backup_dir(&path));
    assert_eq!(names.len(), 1, "{names:?}");
    let pattern = regex::Regex::new(r"^state-v1-\d{8}T\d{6}\.\d{3}Z\.db$").expect("regex");
    assert!(pattern.is_match(&names[0]), "{}", names[0]);

    let copy = Connection::open(backup_dir(&path).join(&names[0])).expect("open backup");
    let version: u32 = copy
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("v");
    assert_eq!(version, 1);
    let name: String = copy
        .query_row("SELECT name FROM vms", [], |r| r.get(0))
        .expect("row");
    assert_eq!(name, "keep");
    let has_note: bool = copy
        .query_row(
            "SELECT count(*) FROM pragma_table_info('vms') WHERE name = 'note1'",
            [],
            |r| r.get(0),
        )
        .expect("columns");
    assert!(!has_note, "the backup must be taken before the upgrade");
    let mode: String = copy
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "delete", "a backup is one self-contained file");
    drop(copy);

    drop(db);
    StateDb::open_with_migrations(&path, &migrations_up_to(1)).expect("reopen");
    assert_eq!(
        backups(&backup_dir(&path)).len(),
        1,
        "no backup when already current"
    );
}

#[test]
fn only_the_newest_backups_are_kept() {
    let (_dir, path) = v1_with_one_vm();
    let unrelated = backup_dir(&path).join("other-v1-20000101T000000.000Z.db");
    std::fs::create_dir_all(backup_dir(&path)).expect("mkdir");
    std::fs::write(&unrelated, b"").expect("write");
    for extra in 1..=7 {
        StateDb::open_with_migrations(&path, &migrations_up_to(extra)).expect("upgrade");
    }
    let mut versions: Vec<u32> = backups(&backup_dir(&path))
        .iter()
        .filter_map(|n| n.strip_prefix("state-v")?.split_once('-')?.0.parse().ok())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions.len(), BACKUPS_KEPT);
    assert_eq!(versions, [3, 4, 5, 6, 7]);
    assert!(
        unrelated.exists(),
        "backups of other databases are not pruned"
    );
}

#[test]
fn failed_upgrade_leaves_the_database_as_it_was() {
    let (_dir, path) = v1_with_one_vm();
    let mut broken = MIGRATIONS.to_vec();
    broken.push(M::up("ALTER TABLE no_such_table ADD COLUMN x TEXT"));
    let err = StateDb::open_with_migrations(&path, &broken).expect_err("broken migration");
    assert!(
        matches!(err, StateError::Migration { from: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("backups"), "{err}");

    let db = StateDb::open(&path).expect("still opens at v1");
    assert_eq!(db.schema_version().expect("version"), 1);
    assert!(db.find_vm("keep").expect("find").is_some());
    assert_eq!(backups(&backup_dir(&path)).len(), 1);
}

#[test]
fn concurrent_upgraders_all_succeed() {
    let (_dir, path) = v1_with_one_vm();
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (barrier, path) = (Arc::clone(&barrier), path.clone());
            std::thread::spawn(move || {
                barrier.wait();
                StateDb::open_with_migrations(&path, &migrations_up_to(2))
                    .and_then(|db| db.schema_version())
            })
        })
        .collect();
    for handle in handles {
        let version = handle.join().expect("thread panicked");
        assert!(matches!(version, Ok(3)), "{version:?}");
    }
}
