//! Issue L §5 through the `maqet` CLI: no write where another user can aim it, and no code or
//! settings taken from files another user could change.
//!
//! Real parts: a real QEMU (no OS, `accel: tcg`) for screendumps, symlinks planted by a real
//! second user (`setpriv --reuid=65534`, so these tests need root and util-linux's `setpriv`),
//! the real plugin libraries cargo built, files really owned by uid 65534 (`chown`).
//!
//! Build the binaries first: `cargo build --workspace`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use maqet_tests::MaqetHome;
use maqet_tests::cli::{
    add, describe, fails_with, maqet, maqet_json, no_os_config, plugin_library,
};
use serde_json::Value;

const NOBODY: u32 = 65534;

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests plant files as a second user and must run as root"
    );
}

/// Runs `program args` as uid/gid 65534 (a real second user); asserts success.
fn as_nobody(program: &str, args: &[&str]) {
    require_root();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            program,
        ])
        .args(args)
        .output()
        .expect("setpriv (util-linux) must be installed");
    assert!(
        out.status.success(),
        "setpriv {program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A world-writable sticky directory (like /tmp) inside the home: where another user can plant
/// entries next to the user's files.
fn shared_dir(home: &MaqetHome) -> PathBuf {
    let dir = home.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    // The home itself is 0700; let the second user reach the shared dir.
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    dir
}

#[test]
fn screendump_png_never_writes_through_symlinks_another_user_planted() {
    let home = MaqetHome::new();
    add(&home, "shot", &no_os_config("shot", ""));
    maqet_json(&home, &["start", "shot"]);
    let shared = shared_dir(&home);
    let victim = home.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let target = shared.join("screen.png");
    let victim_text = victim.to_str().unwrap();
    // The name the old code used for its temporary PPM, and the target itself.
    as_nobody(
        "ln",
        &[
            "-s",
            victim_text,
            shared.join("screen.png.maqet-tmp.ppm").to_str().unwrap(),
        ],
    );

    let png = maqet_json(
        &home,
        &[
            "qmp",
            "screendump",
            "shot",
            target.to_str().unwrap(),
            "--png",
        ],
    );
    assert_eq!(png["format"], "png", "{png}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let bytes = std::fs::read(&target).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(std::fs::metadata(&target).unwrap().uid(), 0);

    // A symlink planted at the target is replaced, not followed, for PPM output too.
    let ppm = shared.join("screen.ppm");
    as_nobody("ln", &["-s", victim_text, ppm.to_str().unwrap()]);
    maqet_json(&home, &["qmp", "screendump", "shot", ppm.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&ppm).unwrap();
    assert!(meta.file_type().is_file(), "the symlink was kept");
    assert!(std::fs::read(&ppm).unwrap().starts_with(b"P6"));
    // Nothing but what the user named was left in the shared dir.
    let mut left: Vec<String> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["screen.png", "screen.png.maqet-tmp.ppm", "screen.ppm"],
        "stray files"
    );
    // QEMU's own PPM went to the VM's private runtime dir and was removed there.
    let runtime = home.runtime_dir();
    let strays = walk(&runtime)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ppm"))
        .collect::<Vec<_>>();
    assert!(strays.is_empty(), "{strays:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn plugin_rows(home: &MaqetHome) -> Vec<Value> {
    let rows = maqet_json(home, &["plugin", "list"]);
    rows.as_array().cloned().unwrap_or_default()
}

fn row_for<'a>(rows: &'a [Value], file: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["file"].as_str().is_some_and(|f| f.ends_with(file)))
        .unwrap_or_else(|| panic!("{file} not listed in {rows:?}"))
}

#[test]
fn plugins_another_user_owns_or_could_change_are_rejected_with_the_reason() {
    require_root();
    let home = MaqetHome::new();
    let dir = home.data_dir().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let library = plugin_library("maqet_export");
    let install = |name: &str, mode: u32, owner: u32| {
        let path = dir.join(name);
        std::fs::copy(&library, &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&path, Some(owner), Some(owner)).unwrap();
    };
    install("libgood.so", 0o755, 0);
    install("libnobody.so", 0o755, NOBODY);
    install("libgroupw.so", 0o775, 0);

    let rows = plugin_rows(&home);
    assert_eq!(row_for(&rows, "libgood.so")["status"], "loaded", "{rows:?}");
    let nobody = row_for(&rows, "libnobody.so");
    assert_eq!(nobody["status"], "rejected");
    let reason = nobody["reason"].as_str().unwrap();
    assert!(reason.contains("owned by uid 65534"), "{reason}");
    let groupw = row_for(&rows, "libgroupw.so");
    assert_eq!(groupw["status"], "rejected");
    assert!(
        groupw["reason"]
            .as_str()
            .unwrap()
            .contains("writable by its group"),
        "{groupw}"
    );

    // A plugin directory others may write to (no sticky bit) taints every file in it.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let rows = plugin_rows(&home);
    let good = row_for(&rows, "libgood.so");
    assert_eq!(good["status"], "rejected", "{good}");
    assert!(
        good["reason"]
            .as_str()
            .unwrap()
            .contains("writable by others"),
        "{good}"
    );
}

#[test]
fn a_maqet_conf_another_user_could_change_is_refused_with_exit_4() {
    require_root();
    let home = MaqetHome::new();
    let conf = home.config_dir().join("maqet.conf");
    std::fs::write(&conf, "logging:\n  verbosity: 0\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    maqet_json(&home, &["ls"]);

    std::os::unix::fs::chown(&conf, Some(NOBODY), Some(NOBODY)).unwrap();
    let err = fails_with(&home, &["ls"], 4);
    assert!(err.contains("owned by uid 65534"), "{err}");
    assert!(err.contains("maqet.conf"), "{err}");

    std::os::unix::fs::chown(&conf, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = fails_with(&home, &["ls"], 4);
    assert!(err.contains("writable by others"), "{err}");
}

#[test]
fn a_vm_config_that_sets_binary_must_be_safe_and_so_must_the_binary() {
    require_root();
    let home = MaqetHome::new();
    let qemu = which("qemu-system-x86_64");
    let yaml = no_os_config("bin", "").replace(
        "binary: qemu-system-x86_64",
        &format!("binary: {}", qemu.display()),
    );
    let config = home.write_config("bin", &yaml);
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o664)).unwrap();
    let err = fails_with(&home, &["add", config.to_str().unwrap()], 4);
    assert!(err.contains("sets `binary`"), "{err}");
    assert!(err.contains("writable by its group"), "{err}");

    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    maqet_json(&home, &["add", config.to_str().unwrap()]);

    // A QEMU binary another user owns is not run.
    let fake = home.path().join("qemu-copy");
    std::fs::copy(&qemu, &fake).unwrap();
    std::os::unix::fs::chown(&fake, Some(NOBODY), Some(NOBODY)).unwrap();
    let out = maqet(&home, &["apply", "bin", "--binary", fake.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&["apply"], &out));
    let err = fails_with(&home, &["start", "bin"], 4);
    assert!(err.contains("refusing to run the QEMU binary"), "{err}");
    assert!(err.contains("owned by uid 65534"), "{err}");
}

fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} must be on PATH (scripts/setup.sh installs it)"))
}
