//! Storage and snapshots through the `maqet` CLI as a new user would (issue C): offline and
//! live snapshots, `storage-info`, `storage verify|orphaned|attach`, `clone`, `doctor`,
//! `cleanup` and `rm --clean-storage`. Images are made with the real `qemu-img` and their
//! contents checked with the real `qemu-io`; VMs run under TCG without an OS.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use maqet_tests::MaqetHome;
use maqet_tests::cli::{fails_with, maqet_json, maqet_stdout};
use serde_json::Value;

/// Runs an external tool and asserts it succeeded; returns stdout.
fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates an image with `qemu-img create` under `<home>/images/`.
fn image(home: &MaqetHome, file: &str, format: &str, size: &str) -> PathBuf {
    let dir = home.path().join("images");
    std::fs::create_dir_all(&dir).expect("images dir");
    let path = dir.join(file);
    tool("qemu-img", &["create", "-q", "-f", format, s(&path), size]);
    path
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Writes a config and `maqet add`s it.
fn add(home: &MaqetHome, name: &str, yaml: &str) {
    let config = home.write_config(name, yaml);
    maqet_stdout(home, &["add", s(&config)]);
}

/// A VM without an OS (SeaBIOS idles), with the given `storage:` items.
fn vm_yaml(name: &str, storage: &str) -> String {
    format!("name: {name}\nmemory: 64M\naccel: tcg\ndisplay: none\nstorage:\n{storage}")
}

/// `qemu-io` write of `pattern` over the first 64 KiB.
fn write_pattern(image: &Path, pattern: &str) {
    tool(
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            &format!("write -P {pattern} 0 64k"),
            s(image),
        ],
    );
}

/// Whether the first 64 KiB hold `pattern` (qemu-io reports "Pattern verification failed").
fn holds_pattern(image: &Path, pattern: &str) -> bool {
    let out = Command::new("qemu-io")
        .args([
            "-f",
            "qcow2",
            "-c",
            &format!("read -P {pattern} 0 64k"),
            s(image),
        ])
        .output()
        .expect("qemu-io runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    out.status.success() && !text.contains("verification failed")
}

fn snapshot_names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("snapshot list is an array")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn offline_snapshot_cycle_restores_the_disk() {
    let home = MaqetHome::new();
    let disk = image(&home, "disk.qcow2", "qcow2", "16M");
    add(
        &home,
        "web",
        &vm_yaml("web", &format!("  - name: hdd\n    file: {}\n", s(&disk))),
    );
    write_pattern(&disk, "0xaa");

    let created = maqet_json(&home, &["snapshot", "web", "create", "hdd", "clean"]);
    assert_eq!(created["status"], "success");
    assert_eq!(created["operation"], "create");
    assert_eq!(created["method"], "qemu-img");
    assert_eq!(created["live"], false);

    let again = fails_with(&home, &["snapshot", "web", "create", "hdd", "clean"], 3);
    assert!(again.contains("--overwrite"), "{again}");
    let replaced = maqet_json(
        &home,
        &["snapshot", "web", "create", "hdd", "clean", "--overwrite"],
    );
    assert_eq!(replaced["overwrite"], true);

    let list = maqet_json(&home, &["snapshot", "web", "list", "hdd"]);
    assert_eq!(snapshot_names(&list), ["clean"]);
    for key in ["id", "name", "vm_state_size", "date", "vm_clock"] {
        assert!(list[0].get(key).is_some(), "list entry lacks {key}: {list}");
    }

    write_pattern(&disk, "0xbb");
    assert!(holds_pattern(&disk, "0xbb"));
    maqet_stdout(&home, &["snapshot", "web", "load", "hdd", "clean"]);
    assert!(
        holds_pattern(&disk, "0xaa"),
        "data written after the snapshot must be gone"
    );

    let missing = fails_with(&home, &["snapshot", "web", "load", "hdd", "nope"], 3);
    assert!(
        missing.contains("nope") && missing.contains("clean"),
        "{missing}"
    );

    maqet_stdout(&home, &["snapshot", "web", "delete", "hdd", "clean"]);
    let list = maqet_json(&home, &["snapshot", "web", "list", "hdd"]);
    assert_eq!(list, Value::Array(Vec::new()));
    fails_with(&home, &["snapshot", "web", "delete", "hdd", "clean"], 3);
}

#[test]
fn snapshot_refuses_raw_drives_numeric_names_and_unknown_drives() {
    let home = MaqetHome::new();
    let disk = image(&home, "disk.qcow2", "qcow2", "16M");
    let raw = image(&home, "data.raw", "raw", "4M");
    let storage = format!(
        "  - name: hdd\n    file: {}\n  - name: scratch\n    type: raw\n    file: {}\n",
        s(&disk),
        s(&raw)
    );
    add(&home, "web", &vm_yaml("web", &storage));

    let err = fails_with(&home, &["snapshot", "web", "create", "scratch", "s1"], 3);
    assert!(
        err.contains("`scratch`") && err.contains("raw") && err.contains("qcow2"),
        "{err}"
    );
    let err = fails_with(&home, &["snapshot", "web", "create", "hdd", "42"], 3);
    assert!(err.contains("numeric"), "{err}");
    let err = fails_with(&home, &["snapshot", "web", "list", "floppy"], 3);
    assert!(
        err.contains("floppy") && err.contains("hdd, scratch"),
        "{err}"
    );
    let err = fails_with(&home, &["snapshot", "web", "create", "hdd"], 3);
    assert!(err.contains("name"), "{err}");
    assert!(
        !snapshot_names(&maqet_json(&home, &["snapshot", "web", "list", "hdd"]))
            .contains(&"42".to_string())
    );
}

#[test]
fn storage_info_and_verify_describe_each_drive() {
    let home = MaqetHome::new();
    let disk = image(&home, "disk.qcow2", "qcow2", "16M");
    let storage = format!(
        "  - name: hdd\n    file: {}\n  - name: later\n    size: 8M\n",
        s(&disk)
    );
    add(&home, "web", &vm_yaml("web", &storage));

    let info = maqet_json(&home, &["storage-info", "web"]);
    let drives = info["drives"].as_array().expect("drives");
    assert_eq!(drives.len(), 2);
    assert_eq!(drives[0]["name"], "hdd");
    assert_eq!(drives[0]["configured_path"], s(&disk));
    assert_eq!(drives[0]["resolved_path"], s(&disk));
    assert_eq!(drives[0]["exists"], true);
    assert_eq!(drives[0]["format"], "qcow2");
    assert_eq!(drives[0]["virtual_size"], 16 << 20);
    assert!(drives[0]["actual_size"].as_u64().is_some_and(|n| n > 0));
    let default = maqet_tests::cli::vm_data_dir(&home, "web").join("later.qcow2");
    assert_eq!(drives[1]["configured_path"], s(&default));
    assert_eq!(drives[1]["resolved_path"], s(&default));
    assert_eq!(drives[1]["exists"], false);

    let verified = maqet_json(&home, &["storage", "verify", "web"]);
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["files"][1]["state"], "not-created-yet");

    std::fs::remove_file(&disk).expect("remove image");
    let verified = maqet_json(&home, &["storage", "verify", "web"]);
    assert_eq!(verified["ok"], false);
    assert_eq!(verified["files"][0]["state"], "missing");
}

#[test]
fn orphaned_lists_stray_files_and_nothing_in_use() {
    let home = MaqetHome::new();
    add(
        &home,
        "web",
        &vm_yaml("web", "  - name: hdd\n    size: 8M\n"),
    );
    let vm_dir = maqet_tests::cli::vm_data_dir(&home, "web");
    let used = vm_dir.join("hdd.qcow2");
    tool("qemu-img", &["create", "-q", "-f", "qcow2", s(&used), "8M"]);
    assert_eq!(
        maqet_json(&home, &["storage", "orphaned"]),
        Value::Array(Vec::new())
    );

    let ghost_dir = home.data_dir().join("vms/ghost");
    std::fs::create_dir_all(&ghost_dir).expect("ghost dir");
    let stray_raw = ghost_dir.join("old.raw");
    let stray_iso = home.data_dir().join("vms/installer.iso");
    std::fs::write(&stray_raw, vec![0u8; 4096]).expect("stray");
    std::fs::write(&stray_iso, b"iso").expect("stray");

    let orphans = maqet_json(&home, &["storage", "orphaned"]);
    let paths: Vec<&str> = orphans
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|o| o["path"].as_str())
        .collect();
    assert_eq!(paths.len(), 2, "{orphans}");
    assert!(
        paths.contains(&s(&stray_raw)) && paths.contains(&s(&stray_iso)),
        "{orphans}"
    );
    assert!(stray_raw.exists(), "listing must not delete anything");
    let human = maqet_stdout(&home, &["storage", "orphaned"]);
    assert!(human.contains("old.raw"), "{human}");
}

#[test]
fn attach_adds_the_image_to_the_config_and_rm_keeps_it() {
    let home = MaqetHome::new();
    let mine = image(&home, "My Disk.qcow2", "qcow2", "8M");
    let config = home.write_config("base", "memory: 64M\naccel: tcg\n");
    let attached = maqet_json(&home, &["storage", "attach", "box", s(&mine), s(&config)]);
    assert_eq!(attached["drive"], "My-Disk");
    assert_eq!(attached["format"], "qcow2");

    let info = maqet_json(&home, &["info", "box"]);
    assert_eq!(info["config_data"]["storage"][0]["file"], s(&mine));
    assert_eq!(info["config_data"]["storage"][0]["type"], "qcow2");
    let storage = maqet_json(&home, &["storage-info", "box"]);
    assert_eq!(storage["drives"][0]["registered"], true);
    assert_eq!(storage["drives"][0]["created_by_maqet"], false);

    fails_with(
        &home,
        &["storage", "attach", "box", s(&mine), s(&config)],
        3,
    );
    let missing = home.path().join("images/none.qcow2");
    fails_with(
        &home,
        &["storage", "attach", "other", s(&missing), s(&config)],
        3,
    );

    let removed = maqet_json(&home, &["rm", "box", "--clean-storage"]);
    assert_eq!(removed["kept"][0]["path"], s(&mine), "{removed}");
    assert!(
        mine.exists(),
        "the user's image must survive rm --clean-storage"
    );
}

#[test]
fn clone_copies_disks_or_links_them() {
    let home = MaqetHome::new();
    let disk = image(&home, "base.qcow2", "qcow2", "16M");
    let storage = format!(
        "  - name: hdd\n    file: {}\n  - name: later\n    size: 8M\n",
        s(&disk)
    );
    add(&home, "base", &vm_yaml("base", &storage));
    write_pattern(&disk, "0xaa");

    let full = maqet_json(&home, &["clone", "base", "copy"]);
    assert_eq!(full["drives"][0]["method"], "copied");
    assert_eq!(full["drives"][1]["method"], "not-created");
    let later = maqet_tests::cli::vm_data_dir(&home, "copy").join("later.qcow2");
    assert_eq!(full["drives"][1]["file"], s(&later));
    let info = maqet_json(&home, &["info", "copy"]);
    assert_eq!(
        info["config_data"]["storage"][1]["file"],
        s(&later),
        "the clone gets its own disk"
    );
    let copy = PathBuf::from(full["drives"][0]["file"].as_str().expect("file"));
    assert!(
        copy.starts_with(maqet_tests::cli::vm_data_dir(&home, "copy")),
        "{}",
        copy.display()
    );
    assert!(
        holds_pattern(&copy, "0xaa"),
        "a full clone has the source's data"
    );
    let info: Value = serde_json::from_str(&tool("qemu-img", &["info", "--output=json", s(&copy)]))
        .expect("json");
    assert!(
        info.get("backing-filename").is_none(),
        "a full clone stands alone: {info}"
    );
    write_pattern(&copy, "0xcc");
    assert!(
        holds_pattern(&disk, "0xaa"),
        "writing the copy leaves the source alone"
    );

    let linked = maqet_json(&home, &["clone", "base", "thin", "--linked"]);
    assert_eq!(linked["drives"][0]["method"], "overlay");
    let overlay = linked["drives"][0]["file"]
        .as_str()
        .expect("file")
        .to_string();
    let info: Value = serde_json::from_str(&tool("qemu-img", &["info", "--output=json", &overlay]))
        .expect("json");
    assert_eq!(info["backing-filename"], s(&disk), "{info}");

    let storage = maqet_json(&home, &["storage-info", "thin"]);
    assert_eq!(storage["drives"][0]["created_by_maqet"], true);
    fails_with(&home, &["clone", "base", "copy"], 3);

    let removed = maqet_json(&home, &["rm", "copy", "--clean-storage"]);
    assert_eq!(removed["deleted_files"][0], s(&copy));
    assert!(!copy.exists() && disk.exists());
}

#[test]
fn doctor_reports_checks_as_json_and_fix_removes_stale_runtime_dirs() {
    let home = MaqetHome::new();
    add(
        &home,
        "web",
        &vm_yaml("web", "  - name: hdd\n    size: 8M\n"),
    );
    let stale = home
        .runtime_dir()
        .join("vms/00000000-0000-4000-8000-000000000000");
    std::fs::create_dir_all(&stale).expect("stale dir");

    let report = maqet_json(&home, &["doctor"]);
    assert_eq!(report["healthy"], true, "{report}");
    assert_eq!(report["fix"], false);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "qemu",
            "qemu-img",
            "kvm",
            "database",
            "registry",
            "vm-states",
            "runtime-dirs",
            "orphans",
            "cp-partials"
        ]
    );
    assert!(
        report["qemu_img_version"]
            .as_str()
            .is_some_and(|v| v.contains("qemu-img"))
    );
    assert_eq!(report["database_problems"], Value::Array(Vec::new()));
    assert_eq!(report["stale_runtime_dirs"][0], s(&stale));
    assert!(stale.exists(), "doctor without --fix changes nothing");

    let fixed = maqet_json(&home, &["doctor", "--fix"]);
    assert_eq!(fixed["removed_runtime_dirs"][0], s(&stale));
    assert!(!stale.exists());
    assert_eq!(maqet_json(&home, &["cleanup"])["cleaned"], 0);
}

/// Runner and QEMU PIDs of a running VM.
fn pids(home: &MaqetHome, vm: &str) -> (i32, i32) {
    let status = maqet_json(home, &["status", vm]);
    let pid = |key: &str| {
        status[key]
            .as_i64()
            .unwrap_or_else(|| panic!("{key} in {status}")) as i32
    };
    (pid("runner_pid"), pid("pid"))
}

#[test]
fn live_snapshots_hold_vm_state_and_offline_actions_explain_themselves() {
    let home = MaqetHome::new();
    add(
        &home,
        "live",
        &vm_yaml("live", "  - name: hdd\n    size: 16M\n"),
    );
    maqet_stdout(&home, &["start", "live"]);

    // Loading a disk snapshot under a running guest is refused; the message names both ways out.
    let err = fails_with(&home, &["snapshot", "live", "load", "hdd", "s1"], 3);
    assert!(err.contains("--live") && err.contains("stop"), "{err}");
    let made = maqet_json(
        &home,
        &["snapshot", "live", "create", "hdd", "s1", "--live"],
    );
    assert_eq!(made["method"], "qmp");
    assert_eq!(made["live"], true);
    let list = maqet_json(&home, &["snapshot", "live", "list", "hdd"]);
    assert_eq!(snapshot_names(&list), ["s1"]);
    assert!(
        list[0]["vm_state_size"].as_u64().is_some_and(|n| n > 0),
        "{list}"
    );

    fails_with(
        &home,
        &["snapshot", "live", "create", "hdd", "s1", "--live"],
        3,
    );
    maqet_stdout(
        &home,
        &[
            "snapshot",
            "live",
            "create",
            "hdd",
            "s1",
            "--live",
            "--overwrite",
        ],
    );
    maqet_stdout(&home, &["snapshot", "live", "load", "hdd", "s1", "--live"]);
    assert_eq!(maqet_json(&home, &["status", "live"])["status"], "running");
    fails_with(
        &home,
        &["snapshot", "live", "load", "hdd", "zz", "--live"],
        3,
    );
    maqet_stdout(
        &home,
        &["snapshot", "live", "delete", "hdd", "s1", "--live"],
    );

    // Without --live, a running VM gets a disk-only snapshot taken by QEMU.
    let disk = maqet_json(&home, &["snapshot", "live", "create", "hdd", "disk1"]);
    assert_eq!(disk["method"], "qmp-disk-only", "{disk}");
    assert_eq!(disk["live"], false);
    let list = maqet_json(&home, &["snapshot", "live", "list", "hdd"]);
    assert_eq!(snapshot_names(&list), ["disk1"]);
    assert_eq!(list[0]["vm_state_size"].as_u64(), Some(0), "{list}");
    maqet_stdout(&home, &["snapshot", "live", "delete", "hdd", "disk1"]);
    assert!(snapshot_names(&maqet_json(&home, &["snapshot", "live", "list", "hdd"])).is_empty());

    // QEMU and its runner die behind maqet's back: cleanup marks the VM stopped.
    let (runner, qemu) = pids(&home, "live");
    // SAFETY: plain kill(2) on PIDs this test's VM owns.
    unsafe {
        libc::kill(runner, libc::SIGKILL);
        libc::kill(qemu, libc::SIGKILL);
    }
    for _ in 0..500 {
        if !Path::new(&format!("/proc/{qemu}/exe")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let dry = maqet_json(&home, &["cleanup", "--dry-run"]);
    assert_eq!(dry["vms"][0]["action"], "mark-stopped", "{dry}");
    assert_eq!(dry["cleaned"], 0);
    let done = maqet_json(&home, &["cleanup"]);
    assert_eq!(done["cleaned"], 1, "{done}");
    assert_eq!(maqet_json(&home, &["status", "live"])["status"], "stopped");
}

#[test]
fn rm_clean_storage_deletes_what_maqet_created_and_keeps_the_users_image() {
    let home = MaqetHome::new();
    let raw = image(&home, "user.raw", "raw", "4M");
    let storage = format!(
        "  - name: hdd\n    size: 16M\n  - name: data\n    type: raw\n    file: {}\n",
        s(&raw)
    );
    add(&home, "web", &vm_yaml("web", &storage));
    maqet_stdout(&home, &["start", "web"]);
    let created = maqet_tests::cli::vm_data_dir(&home, "web").join("hdd.qcow2");
    assert!(created.exists());
    let info: Value = serde_json::from_str(&tool(
        "qemu-img",
        &["info", "-U", "--output=json", s(&created)],
    ))
    .expect("json");
    assert_eq!(info["virtual-size"], 16 << 20);
    maqet_stdout(&home, &["stop", "web"]);

    let data_dir = maqet_tests::cli::vm_data_dir(&home, "web");
    let removed = maqet_json(&home, &["rm", "web", "--clean-storage"]);
    assert_eq!(removed["deleted_files"][0], s(&created), "{removed}");
    assert_eq!(
        removed["kept"].as_array().map(Vec::len),
        Some(1),
        "{removed}"
    );
    assert_eq!(removed["kept"][0]["path"], s(&raw), "{removed}");
    assert!(
        removed["kept"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not created by maqet")),
        "{removed}"
    );
    assert!(!created.exists());
    assert!(raw.exists());
    assert!(
        !data_dir.exists(),
        "the VM's logs and record file go with --clean-storage: {removed}"
    );
}
