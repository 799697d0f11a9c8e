//! Issue E §4: every kind of bad input gives a clear message and its documented exit code,
//! and leaves nothing half-written. One test per row of `docs/errors.md` (same names).
//!
//! Tests that start QEMU use `accel: tcg`, `display: none` and 64 MiB of RAM; the
//! [`MaqetHome`] kills whatever is left when the test ends. The full-disk test mounts a tmpfs
//! and needs root; the locked-database and full-disk tests hold the database open with rusqlite.
//! Each fails saying what is missing when it cannot run (scripts/setup.sh installs it all).

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use maqet_tests::cli::{fails_with, maqet_json};
use maqet_tests::sqlite::HeldDatabase;
use maqet_tests::{MaqetHome, maqet_binary};
use serde_json::Value;

/// Bounds every maqet run so that a hang fails the test instead of blocking it.
const HANG_GUARD: Duration = Duration::from_secs(90);

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

fn run(home: &MaqetHome, args: &[&str]) -> Outcome {
    let output = home.cmd().args(args).timeout(HANG_GUARD).output().unwrap();
    Outcome {
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn succeeds(home: &MaqetHome, args: &[&str]) {
    let outcome = run(home, args);
    assert_eq!(outcome.code, Some(0), "maqet {args:?}: {}", outcome.stderr);
}

fn vm_names(home: &MaqetHome) -> Vec<String> {
    let list = maqet_json(home, &["ls"]);
    list.as_array()
        .unwrap()
        .iter()
        .map(|vm| vm["name"].as_str().unwrap().to_owned())
        .collect()
}

fn config_data(home: &MaqetHome, vm: &str) -> Value {
    maqet_json(home, &["info", vm])["config_data"].clone()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "`{part}` missing from: {text}");
    }
}

/// A VM config that QEMU can start without a guest (SeaBIOS finds nothing to boot).
fn vm_yaml(name: &str, extra: &str) -> String {
    format!("name: {name}\naccel: tcg\ndisplay: none\nmemory: 64M\n{extra}")
}

/// Runs `check` against `add FILE`, `apply EXISTING FILE` and `config validate FILE`, and
/// shows that none of them changed the registry.
fn rejected_everywhere(home: &MaqetHome, file: &Path, check: impl Fn(&str)) {
    succeeds(home, &["add", "--name", "existing", "--memory", "128M"]);
    let before = config_data(home, "existing");
    check(&fails_with(home, &["add", p(file)], 3));
    check(&fails_with(home, &["apply", "existing", p(file)], 3));
    check(&fails_with(home, &["apply", "fresh", p(file)], 3));
    check(&fails_with(home, &["config", "validate", p(file)], 3));
    assert_eq!(vm_names(home), ["existing"], "no VM row may be left behind");
    assert_eq!(
        config_data(home, "existing"),
        before,
        "apply must not half-apply"
    );
}

#[test]
fn yaml_syntax_error() {
    let home = MaqetHome::new();
    let file = home.write_config("broken", "name: broken\nmemory: [1\n");
    rejected_everywhere(&home, &file, |stderr| {
        contains_all(stderr, &["broken.yaml", "invalid YAML", "unclosed bracket"]);
        assert!(
            stderr.contains("broken.yaml:2:9") || stderr.contains("line 2 column 9"),
            "{stderr}"
        );
    });
}

#[test]
fn unknown_key() {
    let home = MaqetHome::new();
    let file = home.write_config("typo", "name: typo\nmemroy: 1G\n");
    rejected_everywhere(&home, &file, |stderr| {
        contains_all(
            stderr,
            &["typo.yaml:2:1", "`memroy`", "did you mean `memory`"],
        );
    });
    let nested = home.write_config(
        "drive",
        "name: drive\nstorage:\n  - {name: hdd, type: qcow2, sise: 1G}\n",
    );
    let stderr = fails_with(&home, &["add", p(&nested)], 3);
    contains_all(&stderr, &["drive.yaml:3:", "sise", "did you mean `size`"]);
}

#[test]
fn wrong_type() {
    let home = MaqetHome::new();
    let file = home.write_config("types", "name: types\ncpu: two\n");
    rejected_everywhere(&home, &file, |stderr| {
        contains_all(stderr, &["types.yaml:2:6", "`cpu`", "whole number", "two"]);
    });
    let stderr = fails_with(&home, &["add", "--name", "t", "--cpu", "two"], 3);
    contains_all(&stderr, &["--cpu", "two", "whole number"]);
    let list = home.write_config("list", "name: list\narguments: notalist\n");
    let stderr = fails_with(&home, &["config", "validate", p(&list)], 3);
    contains_all(
        &stderr,
        &["list.yaml:2:12", "`arguments`", "must be a list"],
    );
}

#[test]
fn bad_size() {
    let home = MaqetHome::new();
    let file = home.write_config("size", "name: size\nmemory: 12X\n");
    rejected_everywhere(&home, &file, |stderr| {
        contains_all(
            stderr,
            &["size.yaml:2:9", "`12X` is not a memory size", "4G"],
        );
    });
    let drive = home.write_config(
        "drive",
        "name: drive\nstorage:\n  - {name: hdd, type: qcow2, size: 10Q}\n",
    );
    let stderr = fails_with(&home, &["add", p(&drive)], 3);
    contains_all(&stderr, &["drive.yaml:3:36", "size", "10Q"]);
    let stderr = fails_with(&home, &["add", "--name", "m", "--memory", "12X"], 3);
    contains_all(&stderr, &["--memory", "12X"]);
    let vm_dirs = std::fs::read_dir(home.data_dir().join("vms")).map_or(0, |dir| {
        dir.flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .count()
    });
    assert_eq!(
        vm_dirs, 1,
        "only `existing` has a VM directory; a refused add leaves none"
    );
}

#[test]
fn bad_name() {
    let home = MaqetHome::new();
    let file = home.write_config("escape", "name: ../x\n");
    let stderr = fails_with(&home, &["add", p(&file)], 3);
    contains_all(&stderr, &["escape.yaml:1:7", "`../x` is not allowed"]);
    let stderr = fails_with(&home, &["add", "--name", "../x", "--empty"], 3);
    contains_all(&stderr, &["`../x` is not allowed"]);
    let stderr = fails_with(&home, &["apply", "../x", "--memory", "64M"], 3);
    contains_all(&stderr, &["`../x` is not allowed"]);
    let long = "a".repeat(65);
    let stderr = fails_with(&home, &["add", "--name", &long, "--empty"], 3);
    contains_all(&stderr, &["65 characters", "64"]);
    assert_eq!(vm_names(&home), Vec::<String>::new());
    assert!(!home.data_dir().join("x").exists() && !home.path().join("x").exists());
}

#[test]
fn missing_config_file() {
    let home = MaqetHome::new();
    let missing = home.configs_dir().join("missing.yaml");
    let stderr = fails_with(&home, &["add", p(&missing)], 3);
    contains_all(
        &stderr,
        &["cannot read config file", p(&missing), "No such file"],
    );
    fails_with(&home, &["config", "validate", p(&missing)], 3);
    fails_with(&home, &["apply", "fresh", p(&missing)], 3);
    assert_eq!(vm_names(&home), Vec::<String>::new());
}

#[test]
fn unreadable_config_file() {
    let home = MaqetHome::new();
    let directory = home.configs_dir();
    let stderr = fails_with(&home, &["add", p(&directory)], 3);
    contains_all(
        &stderr,
        &[
            "config file",
            p(&directory),
            "is a directory, not a regular file",
        ],
    );
    assert_eq!(vm_names(&home), Vec::<String>::new());

    // A mode-000 file: root reads it anyway, so run maqet as `nobody` when we are root.
    let shared = tempfile::Builder::new()
        .prefix("maqet-perm-")
        .tempdir()
        .unwrap();
    let secret = shared.path().join("secret.yaml");
    std::fs::write(&secret, "name: secret\n").unwrap();
    set_mode(&secret, 0o000);
    let mut command = if is_root() {
        if Command::new("setpriv").arg("--version").output().is_err() {
            panic!(
                "the mode-000 case needs setpriv to drop root (scripts/setup.sh installs util-linux)"
            );
        }
        set_mode(shared.path(), 0o777);
        // The binary may sit under a directory `nobody` cannot enter.
        let binary = shared.path().join("maqet");
        std::fs::copy(maqet_binary(), &binary).unwrap();
        set_mode(&binary, 0o755);
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(binary);
        c
    } else {
        Command::new(maqet_binary())
    };
    let data = shared.path().join("data");
    let output = command
        .env("HOME", shared.path())
        .env_remove("MAQET_CONFIG")
        .arg("--maqet-data-dir")
        .arg(&data)
        .arg("--maqet-config-dir")
        .arg(shared.path().join("config"))
        .arg("--maqet-runtime-dir")
        .arg(shared.path().join("runtime"))
        .arg("add")
        .arg(&secret)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    contains_all(
        &stderr,
        &["cannot read config file", p(&secret), "Permission denied"],
    );
}

#[test]
fn qemu_binary_missing() {
    let home = MaqetHome::new();
    let file = home.write_config("nobin", &vm_yaml("nobin", "binary: /nonexistent/qemu\n"));
    succeeds(&home, &["add", p(&file)]);
    let stderr = fails_with(&home, &["start", "nobin"], 1);
    contains_all(&stderr, &["`/nonexistent/qemu`", "No such file"]);
    let status = maqet_json(&home, &["status", "nobin"]);
    assert_eq!(status["is_running"], false, "{status:#}");
    assert_eq!(status["pid"], Value::Null);
    assert_eq!(status["status"], "failed");
    assert!(
        status["status_reason"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/qemu")
    );
}

#[test]
fn qemu_img_missing() {
    let home = MaqetHome::new();
    let Some(qemu) = find_on_path("qemu-system-x86_64") else {
        panic!("qemu-system-x86_64 must be installed");
    };
    let extra = format!(
        "binary: {}\nstorage:\n  - {{name: hdd, type: qcow2, size: 1G}}\n",
        p(&qemu)
    );
    let file = home.write_config("noimg", &vm_yaml("noimg", &extra));
    succeeds(&home, &["add", p(&file)]);
    let no_tools = home.path().join("empty-bin");
    std::fs::create_dir(&no_tools).unwrap();
    let output = home
        .cmd()
        .env("PATH", &no_tools)
        .args(["start", "noimg"])
        .timeout(HANG_GUARD)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    contains_all(&stderr, &["qemu-img was not found", "qemu-utils"]);
    let status = maqet_json(&home, &["status", "noimg"]);
    assert_eq!(status["is_running"], false, "{status:#}");
    assert_no_image_files(&home.data_dir());
}

#[test]
fn qemu_refuses_an_argument() {
    let home = MaqetHome::new();
    let extra = "arguments:\n  - {bogus-option: null}\n";
    let file = home.write_config("bogus", &vm_yaml("bogus", extra));
    succeeds(&home, &["add", p(&file)]);
    let stderr = fails_with(&home, &["start", "bogus"], 1);
    contains_all(
        &stderr,
        &["refused to start", "-bogus-option: invalid option"],
    );
    let status = maqet_json(&home, &["status", "bogus"]);
    assert_eq!(status["is_running"], false, "{status:#}");
    assert_eq!(status["status"], "failed");
}

#[test]
fn qmp_error() {
    let home = MaqetHome::new();
    let file = home.write_config("qmperr", &vm_yaml("qmperr", ""));
    succeeds(&home, &["add", p(&file)]);
    succeeds(&home, &["start", "qmperr"]);
    let stderr = fails_with(&home, &["qmp", "qmperr", "no-such-command"], 1);
    contains_all(&stderr, &["no-such-command", "CommandNotFound"]);
    let status = maqet_json(&home, &["status", "qmperr"]);
    assert_eq!(
        status["is_running"], true,
        "a failed command leaves the VM running"
    );
    succeeds(&home, &["stop", "qmperr", "--force"]);
}

#[test]
fn snapshot_of_a_non_qcow2_drive() {
    let home = MaqetHome::new();
    let raw = home.path().join("disk.raw");
    std::fs::write(&raw, vec![0x5a; 1 << 20]).unwrap();
    let extra = format!(
        "storage:\n  - {{name: rawd, type: raw, file: {}}}\n",
        p(&raw)
    );
    let file = home.write_config("rawvm", &vm_yaml("rawvm", &extra));
    succeeds(&home, &["add", p(&file)]);
    for action in [&["create", "rawd", "s1"][..], &["list", "rawd"]] {
        let mut args = vec!["snapshot", "rawvm"];
        args.extend_from_slice(action);
        let stderr = fails_with(&home, &args, 3);
        contains_all(&stderr, &["`rawd`", "raw drive", "only qcow2"]);
    }
    let stderr = fails_with(&home, &["snapshot", "rawvm", "create", "nodrive", "s1"], 3);
    assert!(stderr.contains("nodrive"), "{stderr}");
    assert_eq!(
        std::fs::read(&raw).unwrap(),
        vec![0x5a; 1 << 20],
        "drive untouched"
    );
}

#[test]
fn full_disk() {
    let home = MaqetHome::new();
    let small = SmallDisk::mount(&home.data_dir());
    succeeds(&home, &["add", "--name", "first", "--memory", "64M"]);

    // Nobody else has it open: SQLite cannot even map its WAL index on the full disk.
    small.fill();
    let stderr = fails_with(&home, &["add", "--name", "second", "--memory", "64M"], 1);
    small.free();
    assert_eq!(vm_names(&home), ["first"], "no half-written row");

    // Another process has the database open (as a runner would): the write itself fails.
    let reader = HeldDatabase::hold(&small.db(), "SELECT count(*) FROM sqlite_master");
    small.fill();
    let held = fails_with(&home, &["add", "--name", "second", "--memory", "64M"], 1);
    contains_all(&held, &["state database", "disk is full"]);
    assert_eq!(vm_names(&home), ["first"], "no half-written row");
    drop(reader);
    small.free();
    succeeds(&home, &["add", "--name", "second", "--memory", "64M"]);
    assert_eq!(vm_names(&home), ["first", "second"]);
    contains_all(&stderr, &["state database"]);
    assert!(
        stderr.contains("space") || stderr.contains("full"),
        "the user must learn that the disk is full: {stderr}"
    );
}

#[test]
fn full_disk_for_a_new_image() {
    let home = MaqetHome::new();
    let images = home.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let small = SmallDisk::mount(&images);
    let image = images.join("hdd.qcow2");
    let extra = format!(
        "storage:\n  - {{name: hdd, type: qcow2, size: 1G, file: {}}}\n",
        p(&image)
    );
    let file = home.write_config("fullimg", &vm_yaml("fullimg", &extra));
    succeeds(&home, &["add", p(&file)]);
    small.fill();
    let stderr = fails_with(&home, &["start", "fullimg"], 1);
    contains_all(
        &stderr,
        &[
            "qemu-img could not create",
            p(&image),
            "No space left on device",
        ],
    );
    assert_no_image_files(&images);
    let status = maqet_json(&home, &["status", "fullimg"]);
    assert_eq!(status["is_running"], false, "{status:#}");
}

#[test]
fn database_locked_too_long() {
    let home = MaqetHome::new();
    succeeds(&home, &["add", "--name", "before", "--empty"]);
    let db = home.data_dir().join("maqet.db");
    let lock = HeldDatabase::hold(&db, "BEGIN EXCLUSIVE");
    let stderr = fails_with(&home, &["add", "--name", "blocked", "--empty"], 2);
    contains_all(&stderr, &["state database stayed locked", "retry"]);
    drop(lock);
    assert_eq!(vm_names(&home), ["before"], "no half-written row");
    succeeds(&home, &["add", "--name", "blocked", "--empty"]);
}

#[test]
fn database_file_is_not_sqlite() {
    let home = MaqetHome::new();
    let db = home.data_dir().join("maqet.db");
    let text = "these are my notes, not a database\n".repeat(4);
    std::fs::write(&db, &text).unwrap();
    for args in [&["ls"][..], &["add", "--name", "a", "--empty"]] {
        let stderr = fails_with(&home, args, 1);
        contains_all(
            &stderr,
            &[p(&db), "is not a maqet state database", "moves it aside"],
        );
    }
    assert_eq!(
        std::fs::read_to_string(&db).unwrap(),
        text,
        "the file is left alone"
    );
}

// ---- support -------------------------------------------------------------------------------

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Fails when `dir` (recursively) holds a qcow2 image or a qemu-img temporary file.
fn assert_no_image_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_no_image_files(&path);
        } else {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.contains(".qcow2") && !name.ends_with(".tmp"),
                "half-written image left behind: {}",
                path.display()
            );
        }
    }
}

/// A 1 MiB tmpfs mounted over a directory for the life of the value (root only).
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path) -> Self {
        if !is_root() {
            panic!(
                "simulating a full disk needs root to mount a tmpfs; run the tests as root, as CI does"
            );
        }
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
            .arg(dir)
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            panic!("could not mount a tmpfs on {} ({status:?})", dir.display());
        }
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.join("maqet.db")
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Writes zeros until the file system is full.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.filler()).unwrap();
        let block = [0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
