//! A VM's life as a real user met it (issue N, items 6 and 8): clones with their own identity
//! and host ports, `rm` of a source and its linked clones (clones first, every file and log of
//! theirs gone), a start refused because a linked clone holds the source's image, usage hints,
//! and the shipped plugins found next to the `maqet` binary. Real QEMU (TCG, no OS) and
//! qemu-img throughout.
//!
//! Build the binaries first: `cargo build --workspace` (the plugin libraries too).

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use maqet_tests::MaqetHome;
use maqet_tests::cli::{describe, maqet, maqet_json, maqet_stdout, no_os_config, vm_data_dir};
use serde_json::Value;

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn add(home: &MaqetHome, name: &str, yaml: &str) {
    let config = home.write_config(name, yaml);
    maqet_stdout(home, &["add", s(&config)]);
}

/// A VM without an OS and a 16 MiB qcow2 disk maqet creates at the first start.
fn vm_with_disk(name: &str, extra_storage: &str) -> String {
    no_os_config(
        name,
        &format!("storage:\n  - name: hdd\n    size: 16M\n{extra_storage}"),
    )
}

/// Every file (not directory) under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                todo.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

/// Starts and stops a VM, so its disk, serial log, runner log and events exist.
fn start_and_stop(home: &MaqetHome, name: &str) {
    maqet_stdout(home, &["start", name]);
    maqet_stdout(home, &["stop", name, "--force"]);
}

/// A 1 MiB raw file under `<home>/images/`, the user's own (maqet never deletes it).
fn users_image(home: &MaqetHome, name: &str) -> PathBuf {
    let images = home.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    let path = images.join(name);
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "raw", s(&path), "1M"])
        .status()
        .expect("qemu-img");
    assert!(made.success());
    path
}

/// A `storage` item: `file` as a read-only CD (shared, not copied, by clones).
fn cdrom(file: &Path) -> String {
    format!(
        "  - name: cd\n    type: raw\n    file: {}\n    media: cdrom\n",
        s(file)
    )
}

/// `base` with a shared CD (started once) and two linked clones of it (each started once).
/// Returns the source's disk and the CD.
fn source_and_two_linked_clones(home: &MaqetHome) -> (PathBuf, PathBuf) {
    let iso = users_image(home, "seed.iso");
    add(home, "base", &vm_with_disk("base", &cdrom(&iso)));
    start_and_stop(home, "base");
    let disk = vm_data_dir(home, "base").join("hdd.qcow2");
    assert!(disk.is_file(), "the first start creates {}", disk.display());
    for clone in ["thin1", "thin2"] {
        maqet_json(home, &["clone", "base", clone, "--linked"]);
        start_and_stop(home, clone);
    }
    (disk, iso)
}

#[test]
fn rm_all_with_clean_storage_leaves_no_file_of_a_source_and_its_linked_clones() {
    let home = MaqetHome::new();
    let (disk, iso) = source_and_two_linked_clones(&home);
    let dirs: Vec<PathBuf> = ["base", "thin1", "thin2"]
        .iter()
        .map(|vm| vm_data_dir(&home, vm))
        .collect();
    for dir in &dirs {
        assert!(
            dir.join("serial.log").exists() || dir.join("runner.log").exists(),
            "a started VM has logs in {}: {:?}",
            dir.display(),
            files_under(dir)
        );
    }

    let removed = maqet_json(&home, &["rm", "--all", "--force", "--clean-storage"]);
    let order: Vec<&str> = removed["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(order.len(), 3, "{removed}");
    assert_eq!(order.last(), Some(&"base"), "clones go first: {removed}");
    let kept = removed["kept"].as_array().expect("kept");
    assert_eq!(
        kept.len(),
        1,
        "only the user's CD stays, listed once: {removed}"
    );
    assert_eq!(kept[0]["path"], s(&iso), "{removed}");
    assert!(iso.is_file());
    let deleted = removed["deleted_files"].as_array().expect("deleted_files");
    assert!(deleted.contains(&Value::from(s(&disk))), "{removed}");
    assert!(!disk.exists());
    let left: Vec<PathBuf> = files_under(&home.data_dir())
        .into_iter()
        .filter(|f| {
            dirs.iter().any(|d| f.starts_with(d))
                || f.starts_with(home.data_dir().join("vms")) && !f.ends_with(".layout-by-id")
        })
        .collect();
    assert!(left.is_empty(), "files of removed VMs remain: {left:?}");
    for dir in &dirs {
        assert!(!dir.exists(), "{} is still there", dir.display());
    }
}

#[test]
fn rm_of_a_source_keeps_its_image_for_its_clones_once_and_says_why() {
    let home = MaqetHome::new();
    let (disk, iso) = source_and_two_linked_clones(&home);

    let removed = maqet_json(&home, &["rm", "base", "--clean-storage"]);
    let kept = removed["kept"].as_array().expect("kept");
    assert_eq!(kept.len(), 2, "the image and the CD, each once: {removed}");
    let disk_entry = kept
        .iter()
        .find(|k| k["path"] == s(&disk))
        .unwrap_or_else(|| panic!("the source's image is kept: {removed}"));
    assert!(kept.iter().any(|k| k["path"] == s(&iso)), "{removed}");
    let reason = disk_entry["reason"].as_str().expect("reason");
    assert!(
        reason.contains("thin1") && reason.contains("thin2"),
        "the reason names the clones: {reason}"
    );
    assert!(disk.is_file(), "the clones still read it");

    // Named in the wrong order, the clones still go first and then the image goes too.
    let home = MaqetHome::new();
    let (disk, iso) = source_and_two_linked_clones(&home);
    let removed = maqet_json(&home, &["rm", "thin1", "base", "thin2", "--clean-storage"]);
    assert_eq!(removed["removed"][2], "base", "{removed}");
    assert_eq!(removed["kept"][0]["path"], s(&iso), "{removed}");
    assert_eq!(
        removed["kept"].as_array().map(Vec::len),
        Some(1),
        "{removed}"
    );
    assert!(!disk.exists(), "{removed}");
}

#[test]
fn a_start_refused_by_a_clones_lock_names_the_locked_image_and_quotes_qemu() {
    let home = MaqetHome::new();
    // A read-only CD both VMs share: QEMU's lock is not about it, so it must not be blamed.
    let iso = users_image(&home, "seed.iso");
    // A forwarded host port: the clone must get its own, or the source would be refused for
    // the port before QEMU could say anything about the lock.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml =
        vm_with_disk("base", &cdrom(&iso)) + &format!("ports:\n  - {{host: {port}, guest: 22}}\n");
    add(&home, "base", &yaml);
    start_and_stop(&home, "base");
    let disk = vm_data_dir(&home, "base").join("hdd.qcow2");
    let cloned = maqet_json(&home, &["clone", "base", "thin", "--linked"]);
    let own_port = cloned["ports"][0]["host"]
        .as_u64()
        .expect("the clone forwards a port");
    assert_ne!(own_port, u64::from(port), "{cloned}");
    assert_eq!(cloned["ports"][0]["source_host"], port, "{cloned}");
    let info = maqet_json(&home, &["info", "thin"]);
    assert_eq!(info["config_data"]["ports"][0]["host"], own_port, "{info}");
    assert_eq!(info["config_data"]["ports"][0]["guest"], 22, "{info}");
    maqet_stdout(&home, &["start", "thin"]);

    let out = maqet(&home, &["start", "base"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{}",
        describe(&["start", "base"], &out)
    );
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains(s(&disk)) && first.contains("`thin`"),
        "the error names the locked image and the clone holding it: {stderr}"
    );
    assert!(
        !first.contains(s(&iso)),
        "the shared read-only CD is not to blame: {stderr}"
    );
    assert!(
        stderr.contains("Failed to get \"write\" lock")
            && stderr.contains("Is another process using the image"),
        "QEMU's own lines are shown: {stderr}"
    );
    maqet_stdout(&home, &["stop", "thin", "--force"]);
}

/// `maqet ARGS` with the plugins shipped next to the binary (the harness turns them off).
fn with_shipped_plugins(
    home: &MaqetHome,
    binary: Option<&Path>,
    args: &[&str],
) -> std::process::Output {
    let mut command = home.cmd();
    if let Some(binary) = binary {
        command = assert_cmd::Command::new(binary);
        command.args([
            "--maqet-data-dir",
            s(&home.data_dir()),
            "--maqet-config-dir",
            s(&home.config_dir()),
            "--maqet-runtime-dir",
            s(&home.runtime_dir()),
        ]);
        command.env("HOME", home.path());
    }
    command.env_remove("MAQET_SHIPPED_PLUGINS");
    command.args(args).output().expect("run maqet")
}

#[test]
fn the_plugins_built_next_to_the_binary_work_without_copying_them() {
    let binary = maqet_tests::maqet_binary();
    for lib in ["libmaqet_export.so", "libmaqet_libvirt.so"] {
        let built = binary.with_file_name(lib);
        assert!(
            built.is_file(),
            "{} is missing: run `cargo build --workspace` (plugins are built next to maqet)",
            built.display()
        );
    }
    let home = MaqetHome::new();
    assert!(
        !home.data_dir().join("plugins").exists(),
        "a fresh home has no plugins"
    );
    let export = with_shipped_plugins(&home, None, &["export", "--help"]);
    assert!(
        export.status.success(),
        "{}",
        describe(&["export", "--help"], &export)
    );
    assert!(String::from_utf8_lossy(&export.stdout).contains("--to"));
    let deploy = with_shipped_plugins(&home, None, &["deploy", "--help"]);
    assert!(
        deploy.status.success(),
        "{}",
        describe(&["deploy", "--help"], &deploy)
    );
    let list = with_shipped_plugins(&home, None, &["plugin", "list", "--format", "json"]);
    let rows: Value = serde_json::from_slice(&list.stdout).expect("json");
    let rows = rows.as_array().expect("rows");
    assert!(
        rows.iter().all(|r| r["status"] == "loaded"),
        "only the shipped plugins are taken from the build directory, none rejected: {rows:?}"
    );

    // Turned off, the commands are unknown again, as the harness runs every other test.
    let off = home.cmd().args(["deploy", "--help"]).output().unwrap();
    assert!(
        !off.status.success(),
        "{}",
        describe(&["deploy", "--help"], &off)
    );
}

#[test]
fn a_shipped_plugin_in_a_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let home = MaqetHome::new();
    let open_dir = home.path().join("open-bin");
    std::fs::create_dir(&open_dir).unwrap();
    let binary = open_dir.join("maqet");
    std::fs::copy(maqet_tests::maqet_binary(), &binary).unwrap();
    let built = maqet_tests::maqet_binary().with_file_name("libmaqet_export.so");
    std::fs::copy(&built, open_dir.join("libmaqet_export.so")).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();

    let list = with_shipped_plugins(
        &home,
        Some(&binary),
        &["plugin", "list", "--format", "json"],
    );
    assert!(
        list.status.success(),
        "{}",
        describe(&["plugin", "list"], &list)
    );
    let rows: Value = serde_json::from_slice(&list.stdout).expect("json");
    let row = rows
        .as_array()
        .and_then(|rows| {
            rows.iter().find(|r| {
                r["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("libmaqet_export.so"))
            })
        })
        .unwrap_or_else(|| panic!("the plugin is listed: {rows}"))
        .clone();
    assert_eq!(row["status"], "rejected", "{row}");
    assert!(
        row["reason"]
            .as_str()
            .unwrap()
            .contains("writable by others"),
        "{row}"
    );
    let export = with_shipped_plugins(&home, Some(&binary), &["export", "--help"]);
    assert!(!export.status.success(), "a refused plugin adds no command");
}

#[test]
fn usage_errors_that_look_like_another_order_or_option_get_a_hint() {
    let home = MaqetHome::new();
    add(&home, "web", &no_os_config("web", ""));
    let out = maqet(&home, &["qmp", "web", "screendump", "shot.png"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&["qmp"], &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did you mean `maqet") && stderr.contains("qmp screendump web shot.png`?"),
        "{stderr}"
    );
    let out = maqet(&home, &["storage", "web", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("storage verify web`?"),
        "{}",
        describe(&["storage", "web", "verify"], &out)
    );
    // A right order gets no hint.
    let out = maqet(&home, &["qmp", "screendump", "web"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hint:"));

    let out = with_shipped_plugins(&home, None, &["export", "web", "--format", "libvirt"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `--to libvirt`?"), "{stderr}");
}

#[test]
fn a_clone_is_told_when_it_shares_the_sources_cloud_init_seed() {
    let home = MaqetHome::new();
    add(&home, "base", &vm_with_disk("base", ""));
    let user_data = home.write_config("user-data.yaml", "#cloud-config\n");
    let seeded = with_shipped_plugins(
        &home,
        None,
        &["cloud-init", "base", "--user-data", s(&user_data)],
    );
    assert!(
        seeded.status.success(),
        "{}",
        describe(&["cloud-init"], &seeded)
    );
    let cloned = maqet_json(&home, &["clone", "base", "copy"]);
    let cd = cloned["drives"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["drive"] == "cidata"))
        .unwrap_or_else(|| panic!("the seed drive is listed: {cloned}"));
    assert_eq!(cd["method"], "shared", "{cloned}");
    let notes = cloned["notes"].to_string();
    assert!(
        notes.contains("cidata") && notes.contains("maqet cloud-init copy"),
        "the clone is told to get its own seed: {notes}"
    );
    // Its own first-boot files are not the source's: nothing of the source's directory was copied.
    let copy_dir = vm_data_dir(&home, "copy");
    assert!(
        files_under(&copy_dir)
            .iter()
            .all(|f| !f.ends_with("cidata.iso")),
        "{:?}",
        files_under(&copy_dir)
    );
}
