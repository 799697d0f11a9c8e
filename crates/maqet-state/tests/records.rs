//! VM and storage records: what goes in comes back out, and the errors users see.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{disk, new_vm, temp_db};
use maqet_state::{ErrorKind, ProcessIdentity, RuntimeUpdate, StateDb, StateError, VmStatus};
use regex::Regex;

fn timestamp_re() -> Regex {
    Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$").expect("valid regex")
}

fn running_update() -> RuntimeUpdate {
    RuntimeUpdate {
        status: VmStatus::Running,
        reason: Some("started by test".into()),
        qemu: Some(ProcessIdentity {
            pid: 4242,
            start_time: u64::MAX - 7,
        }),
        runner: Some(ProcessIdentity {
            pid: 4241,
            start_time: 123_456,
        }),
        qmp_socket: Some("/run/user/1000/maqet/web/qmp.sock".into()),
        console_socket: Some("/run/user/1000/maqet/web/console.sock".into()),
        runtime_dir: Some("/run/user/1000/maqet/web".into()),
    }
}

#[test]
fn every_field_round_trips_through_a_reopened_file() {
    let (_dir, path, db) = temp_db();
    let inserted = db.insert_vm(&new_vm("web")).expect("insert");
    assert!(uuid::Uuid::parse_str(&inserted.id).is_ok_and(|u| u.get_version_num() == 4));
    assert_eq!(inserted.status, VmStatus::Created);
    assert_eq!(inserted.qemu, None);
    let re = timestamp_re();
    assert!(re.is_match(&inserted.created_at), "{}", inserted.created_at);
    assert!(re.is_match(&inserted.updated_at), "{}", inserted.updated_at);

    let update = running_update();
    db.set_runtime(&inserted.id, &update).expect("set runtime");
    drop(db);

    let db = StateDb::open(&path).expect("reopen");
    let vm = db.get_vm("web").expect("get");
    assert_eq!(vm.id, inserted.id);
    assert_eq!(vm.name, "web");
    assert_eq!(vm.config, new_vm("web").config);
    assert_eq!(vm.config_paths, vec![PathBuf::from("/etc/maqet/web.yaml")]);
    assert_eq!(vm.status, VmStatus::Running);
    assert_eq!(vm.status_reason.as_deref(), Some("started by test"));
    assert_eq!(vm.qemu, update.qemu);
    assert_eq!(vm.runner, update.runner);
    assert_eq!(vm.qmp_socket, update.qmp_socket);
    assert_eq!(vm.console_socket, update.console_socket);
    assert_eq!(vm.runtime_dir, update.runtime_dir);
    assert_eq!(vm.created_at, inserted.created_at);
    assert!(re.is_match(&vm.updated_at), "{}", vm.updated_at);
    assert!(vm.updated_at >= vm.created_at);
}

#[test]
fn records_serialize_with_the_field_names_the_cli_prints() {
    let db = StateDb::open_in_memory().expect("open");
    let vm = db.insert_vm(&new_vm("web")).expect("insert");
    db.set_runtime(&vm.id, &running_update()).expect("runtime");
    let json = serde_json::to_value(db.get_vm(&vm.id).expect("get")).expect("json");
    let keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "config",
            "config_paths",
            "status",
            "status_reason",
            "qemu",
            "runner",
            "qmp_socket",
            "console_socket",
            "runtime_dir",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(json["status"], "running");
    assert_eq!(json["qemu"]["pid"], 4242);
    assert_eq!(json["config_paths"][0], "/etc/maqet/web.yaml");
}

#[test]
fn lookup_works_by_name_and_by_id_and_prefers_the_id() {
    let db = StateDb::open_in_memory().expect("open");
    let a = db.insert_vm(&new_vm("alpha")).expect("insert");
    // A VM whose *name* is another VM's id: lookup by that string means the id.
    let b = db.insert_vm(&new_vm(&a.id)).expect("insert");
    assert_eq!(db.get_vm("alpha").expect("by name").id, a.id);
    assert_eq!(db.get_vm(&a.id).expect("by id").name, "alpha");
    assert_eq!(db.get_vm(&b.id).expect("by id").id, b.id);
    assert_eq!(db.find_vm("nope").expect("find"), None);
}

#[test]
fn missing_vm_is_not_found_everywhere() {
    let db = StateDb::open_in_memory().expect("open");
    let err = db.get_vm("ghost").expect_err("missing");
    assert!(matches!(&err, StateError::VmNotFound { ident } if ident == "ghost"));
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("maqet ls"), "{err}");
    let kinds = [
        db.delete_vm("ghost").map(|_| ()),
        db.set_status("ghost", VmStatus::Stopped, None),
        db.set_runtime("ghost", &RuntimeUpdate::cleared(VmStatus::Stopped)),
        db.update_config("ghost", &serde_json::json!({}), &[])
            .map(|_| ()),
        db.compare_and_set_status("ghost", &[VmStatus::Created], &running_update())
            .map(|_| ()),
        db.register_storage(&disk("ghost", "/tmp/ghost.qcow2", true)),
    ];
    for result in kinds {
        assert_eq!(result.map_err(|e| e.kind()), Err(ErrorKind::NotFound));
    }
}

#[test]
fn duplicate_name_reports_the_existing_vm() {
    let db = StateDb::open_in_memory().expect("open");
    let first = db.insert_vm(&new_vm("web")).expect("insert");
    let err = db.insert_vm(&new_vm("web")).expect_err("duplicate");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    match err {
        StateError::NameTaken { name, existing_id } => {
            assert_eq!(name, "web");
            assert_eq!(existing_id, first.id);
        }
        other => panic!("expected NameTaken, got {other:?}"),
    }
    assert_eq!(db.list_vms(None).expect("list").len(), 1);
}

#[test]
fn list_filters_by_status_and_orders_by_creation() {
    let db = StateDb::open_in_memory().expect("open");
    let names = ["c-third", "a-first", "b-second"];
    let mut ids = Vec::new();
    for name in names {
        ids.push(db.insert_vm(&new_vm(name)).expect("insert").id);
    }
    db.set_status(&ids[1], VmStatus::Running, None)
        .expect("status");
    db.set_status(&ids[2], VmStatus::Failed, Some("qemu exited 1"))
        .expect("status");

    let listed = db.list_vms(None).expect("list");
    let all: Vec<&str> = listed.iter().map(|v| v.name.as_str()).collect();
    // Creation order; VMs created in the same millisecond come in name order.
    let mut expected: Vec<(&str, &str)> = listed
        .iter()
        .map(|v| (v.created_at.as_str(), v.name.as_str()))
        .collect();
    expected.sort();
    assert_eq!(
        all,
        expected.iter().map(|(_, name)| *name).collect::<Vec<_>>(),
        "{listed:?}"
    );
    let created_in_insert_order: Vec<&str> = names
        .iter()
        .map(|name| {
            let vm = listed.iter().find(|v| v.name == *name).expect("listed");
            vm.created_at.as_str()
        })
        .collect();
    assert!(
        created_in_insert_order.is_sorted(),
        "creation times follow the inserts: {created_in_insert_order:?}"
    );

    let running = db.list_vms(Some(VmStatus::Running)).expect("list");
    assert_eq!(
        running.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["a-first"]
    );
    let failed = db.list_vms(Some(VmStatus::Failed)).expect("list");
    assert_eq!(failed[0].status_reason.as_deref(), Some("qemu exited 1"));
    assert!(
        db.list_vms(Some(VmStatus::Paused))
            .expect("list")
            .is_empty()
    );
}

#[test]
fn brief_list_is_the_full_list_without_configs() {
    let db = StateDb::open_in_memory().expect("open");
    for name in ["one", "two"] {
        let vm = db.insert_vm(&new_vm(name)).expect("insert");
        db.set_runtime(&vm.id, &running_update()).expect("runtime");
    }
    let full = db.list_vms(None).expect("list");
    let brief = db.list_vms_brief().expect("brief list");
    assert_eq!(brief.len(), full.len());
    for (mut full, brief) in full.into_iter().zip(brief) {
        assert_ne!(full.config, serde_json::Value::Null);
        assert_eq!(brief.config, serde_json::Value::Null);
        full.config = serde_json::Value::Null;
        assert_eq!(brief, full, "everything but the config is the same");
    }
}

#[test]
fn set_status_keeps_runtime_fields_and_set_runtime_clears_them() {
    let db = StateDb::open_in_memory().expect("open");
    let vm = db.insert_vm(&new_vm("web")).expect("insert");
    db.set_runtime(&vm.id, &running_update()).expect("runtime");
    db.set_status(&vm.id, VmStatus::Paused, None)
        .expect("status");
    let paused = db.get_vm(&vm.id).expect("get");
    assert_eq!(paused.status, VmStatus::Paused);
    assert_eq!(paused.status_reason, None);
    assert!(paused.qemu.is_some() && paused.qmp_socket.is_some());

    db.set_runtime(
        &vm.id,
        &RuntimeUpdate::cleared(VmStatus::Stopped).with_reason("shutdown"),
    )
    .expect("runtime");
    let stopped = db.get_vm(&vm.id).expect("get");
    assert_eq!(stopped.status, VmStatus::Stopped);
    assert_eq!(stopped.status_reason.as_deref(), Some("shutdown"));
    assert_eq!((stopped.qemu, stopped.runner), (None, None));
    assert_eq!(
        (
            stopped.qmp_socket,
            stopped.console_socket,
            stopped.runtime_dir
        ),
        (None, None, None)
    );
}

#[test]
fn compare_and_set_only_applies_from_an_expected_status() {
    let db = StateDb::open_in_memory().expect("open");
    let vm = db.insert_vm(&new_vm("web")).expect("insert");
    let start = [VmStatus::Created, VmStatus::Stopped];
    assert!(
        db.compare_and_set_status(&vm.id, &start, &running_update())
            .expect("cas")
    );
    // A second starter loses the race and changes nothing.
    let other = RuntimeUpdate::cleared(VmStatus::Failed);
    assert!(
        !db.compare_and_set_status(&vm.id, &start, &other)
            .expect("cas")
    );
    let now = db.get_vm(&vm.id).expect("get");
    assert_eq!(now.status, VmStatus::Running);
    assert_eq!(now.qemu, running_update().qemu);
}

#[test]
fn update_config_replaces_config_and_paths() {
    let db = StateDb::open_in_memory().expect("open");
    let vm = db.insert_vm(&new_vm("web")).expect("insert");
    let config = serde_json::json!({ "memory": "4G", "drives": [{ "file": "/d.qcow2" }] });
    let paths = vec![PathBuf::from("/a.yaml"), PathBuf::from("/b.yaml")];
    let updated = db.update_config(&vm.id, &config, &paths).expect("update");
    assert_eq!(updated.config, config);
    assert_eq!(updated.config_paths, paths);
    assert_eq!(db.get_vm("web").expect("get").config, config);
}

#[test]
fn relative_paths_are_refused() {
    let db = StateDb::open_in_memory().expect("open");
    let mut vm = new_vm("web");
    vm.config_paths = vec!["relative/web.yaml".into()];
    let err = db.insert_vm(&vm).expect_err("relative");
    assert!(matches!(err, StateError::RelativePath { .. }), "{err:?}");
    assert!(db.list_vms(None).expect("list").is_empty());

    let ok = db.insert_vm(&new_vm("web")).expect("insert");
    let err = db
        .register_storage(&disk(&ok.id, "disk.qcow2", true))
        .expect_err("relative");
    assert!(matches!(err, StateError::RelativePath { .. }), "{err:?}");
}

#[test]
fn storage_registry_is_idempotent_and_cascades_on_delete() {
    let (_dir, _path, db) = temp_db();
    let web = db.insert_vm(&new_vm("web")).expect("insert");
    let db_vm = db.insert_vm(&new_vm("db")).expect("insert");
    db.register_storage(&disk(&web.id, "/vms/web.qcow2", true))
        .expect("register");
    db.register_storage(&disk(&web.id, "/vms/web.qcow2", true))
        .expect("again");
    let mut seed = disk(&web.id, "/vms/seed.iso", false);
    seed.role = "seed".into();
    seed.size_bytes = None;
    db.register_storage(&seed).expect("register");
    db.register_storage(&disk(&db_vm.id, "/vms/db.qcow2", false))
        .expect("register");

    let web_files = db.storage_for_vm(&web.id).expect("storage");
    assert_eq!(web_files.len(), 2);
    assert_eq!(web_files[0].path, PathBuf::from("/vms/web.qcow2"));
    assert!(web_files[0].created_by_maqet);
    assert_eq!(web_files[0].size_bytes, Some(1 << 30));
    assert!(timestamp_re().is_match(&web_files[0].created_at));
    assert_eq!(
        (web_files[1].role.as_str(), web_files[1].created_by_maqet),
        ("seed", false)
    );
    assert_eq!(web_files[1].size_bytes, None);
    assert_eq!(db.all_storage().expect("all").len(), 3);

    db.delete_vm(&web.id).expect("delete");
    assert!(db.storage_for_vm(&web.id).expect("storage").is_empty());
    let left = db.all_storage().expect("all");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].vm_id, db_vm.id);
    assert!(db.integrity_check().expect("check").is_empty());
}

#[test]
fn unregister_forgets_one_file() {
    let db = StateDb::open_in_memory().expect("open");
    let vm = db.insert_vm(&new_vm("web")).expect("insert");
    db.register_storage(&disk(&vm.id, "/vms/a.qcow2", true))
        .expect("register");
    db.register_storage(&disk(&vm.id, "/vms/b.qcow2", true))
        .expect("register");
    assert!(
        db.unregister_storage(&vm.id, "/vms/a.qcow2".as_ref())
            .expect("unregister")
    );
    assert!(
        !db.unregister_storage(&vm.id, "/vms/a.qcow2".as_ref())
            .expect("unregister")
    );
    let left = db.storage_for_vm(&vm.id).expect("storage");
    assert_eq!(
        left.iter().map(|e| e.path.clone()).collect::<Vec<_>>(),
        [PathBuf::from("/vms/b.qcow2")]
    );
}

#[test]
fn failed_transaction_leaves_nothing_behind() {
    let (_dir, _path, db) = temp_db();
    let existing = db.insert_vm(&new_vm("taken")).expect("insert");
    let result = db.transaction(|tx| {
        let vm = tx.insert_vm(&new_vm("half"))?;
        tx.register_storage(&disk(&vm.id, "/vms/half.qcow2", true))?;
        tx.set_status(&existing.id, VmStatus::Running, None)?;
        // Fails: the name is taken. Everything above must be undone.
        tx.insert_vm(&new_vm("taken"))
    });
    assert!(matches!(result, Err(StateError::NameTaken { .. })));
    assert!(db.find_vm("half").expect("find").is_none());
    assert!(db.all_storage().expect("all").is_empty());
    assert_eq!(db.get_vm("taken").expect("get").status, VmStatus::Created);
}

#[test]
fn transaction_commits_all_steps_and_accepts_caller_errors() {
    #[derive(Debug)]
    enum CoreError {
        State,
        Refused,
    }
    impl From<StateError> for CoreError {
        fn from(_: StateError) -> Self {
            Self::State
        }
    }
    let db = StateDb::open_in_memory().expect("open");
    let refused = db.transaction(|tx| {
        tx.insert_vm(&new_vm("web"))?;
        Err::<(), _>(CoreError::Refused)
    });
    assert!(matches!(refused, Err(CoreError::Refused)));
    assert!(db.list_vms(None).expect("list").is_empty());

    let vm = db
        .transaction(|tx| {
            let vm = tx.insert_vm(&new_vm("web"))?;
            tx.register_storage(&disk(&vm.id, "/vms/web.qcow2", true))?;
            Ok::<_, CoreError>(vm)
        })
        .expect("commit");
    assert_eq!(db.storage_for_vm(&vm.id).expect("storage").len(), 1);
}

#[test]
fn delete_all_empties_the_registry() {
    let db = StateDb::open_in_memory().expect("open");
    for name in ["a", "b", "c"] {
        let vm = db.insert_vm(&new_vm(name)).expect("insert");
        db.register_storage(&disk(&vm.id, &format!("/vms/{name}.qcow2"), true))
            .expect("register");
    }
    assert_eq!(db.delete_all().expect("delete all"), 3);
    assert!(db.list_vms(None).expect("list").is_empty());
    assert!(db.all_storage().expect("all").is_empty());
}

#[test]
fn summaries_are_the_full_list_cut_down_and_has_vms_says_whether_any() {
    let db = StateDb::open_in_memory().expect("open");
    assert!(!db.has_vms().expect("has_vms"));
    for name in ["one", "two", "three"] {
        let vm = db.insert_vm(&new_vm(name)).expect("insert");
        if name == "two" {
            db.set_runtime(&vm.id, &running_update()).expect("runtime");
        }
    }
    assert!(db.has_vms().expect("has_vms"));
    let full: Vec<maqet_state::VmSummary> = db
        .list_vms(None)
        .expect("list")
        .into_iter()
        .map(Into::into)
        .collect();
    assert_eq!(db.list_vm_summaries().expect("summaries"), full);
    assert!(
        full.iter()
            .any(|vm| vm.qemu.is_some() && vm.runner.is_some())
    );
}
