//! Issue L §6 through the `maqet` CLI: inputs that are not what they claim.
//!
//! Real parts: real FIFOs (`mkfifo`), the real `/dev/zero`, an oversized file on disk, real
//! QEMU started with an exact memory size (read back from QEMU over QMP), a runtime dir too
//! long for UNIX sockets, and a real second user (`setpriv --reuid=65534`) that the OS
//! refuses. The FIFO tests would hang without the fix; [`maqet`] gives every command 120 s.
//!
//! Build the binaries first: `cargo build --workspace`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use maqet_tests::cli::{add, describe, fails_with, maqet_json, no_os_config};
use maqet_tests::{MaqetHome, QmpTestClient};

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo (coreutils) must be installed")
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn configs_that_are_fifos_devices_or_too_large_are_refused_without_reading_them() {
    let home = MaqetHome::new();
    let fifo = home.configs_dir().join("fifo.yaml");
    mkfifo(&fifo);
    let err = fails_with(&home, &["add", fifo.to_str().unwrap(), "--name", "f"], 3);
    assert!(err.contains("FIFO"), "{err}");
    assert!(err.contains("not a regular file"), "{err}");

    let err = fails_with(&home, &["add", "/dev/zero", "--name", "z"], 3);
    assert!(err.contains("character device"), "{err}");

    let big = home.configs_dir().join("big.yaml");
    let mut text = String::from("# padding\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("# .............................................................\n");
    }
    std::fs::write(&big, text).unwrap();
    let err = fails_with(&home, &["add", big.to_str().unwrap(), "--name", "b"], 3);
    assert!(err.contains("larger than the limit of 1 MiB"), "{err}");

    // maqet.conf is read the same way.
    let conf_fifo = home.path().join("conf.fifo");
    mkfifo(&conf_fifo);
    let out = home
        .cmd()
        .env("MAQET_CONFIG", &conf_fifo)
        .args(["ls"])
        .timeout(maqet_tests::cli::COMMAND_GUARD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", describe(&["ls"], &out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIFO"));
    assert!(maqet_json(&home, &["ls"]).as_array().unwrap().is_empty());
}

#[test]
fn byte_and_kib_memory_sizes_reach_qemu_exactly_and_too_small_ones_are_refused_by_name() {
    let home = MaqetHome::new();
    for (size, why) in [
        ("1024B", "below QEMU's minimum of 8K"),
        ("4K", "below QEMU's minimum of 8K"),
        ("12K", "not a multiple of 8K"),
    ] {
        let config = home.write_config("small", &no_os_config("small", &format!("memory: {size}")));
        let err = fails_with(&home, &["add", config.to_str().unwrap()], 3);
        assert!(err.contains("`memory`"), "{size}: {err}");
        assert!(err.contains(why), "{size}: {err}");
    }

    // 1536K is 1.5 MiB: QEMU must get exactly that, not 1536 MiB.
    add(&home, "exact", &no_os_config("exact", "memory: 1536K"));
    maqet_json(&home, &["start", "exact"]);
    let socket = home
        .runtime_dir()
        .join("vms")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("qmp.sock");
    let mut qmp = QmpTestClient::connect(&socket, std::time::Duration::from_secs(30)).unwrap();
    let summary = qmp.execute("query-memory-size-summary", None).unwrap();
    assert_eq!(summary["base-memory"], 1536 * 1024, "{summary}");
    drop(qmp);
    maqet_json(&home, &["stop", "exact", "--force"]);
}

#[test]
fn out_of_range_timeouts_are_exit_3_errors_never_a_panic() {
    let home = MaqetHome::new();
    add(&home, "t", &no_os_config("t", ""));
    for value in ["1e300", "-1", "NaN", "inf", "-inf"] {
        // `--timeout=-1`: a separate `-1` would read as an option.
        let timeout = format!("--timeout={value}");
        for command in [
            vec!["stop", "t"],
            vec!["wait", "t", "--state", "running"],
            vec!["events", "t", "--follow"],
        ] {
            let mut args = command.clone();
            args.push(&timeout);
            let err = fails_with(&home, &args, 3);
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert!(err.contains("--timeout"), "{args:?}: {err}");
        }
    }
}

#[test]
fn a_runtime_dir_too_long_for_unix_sockets_is_refused_before_qemu_starts() {
    let home = MaqetHome::new();
    let long = home.path().join("r".repeat(70));
    std::fs::create_dir_all(&long).unwrap();
    // `home.cmd()` names the home's own runtime dir; this one names the long one.
    let run = |args: &[&str]| {
        Command::new(maqet_tests::maqet_binary())
            .arg("--maqet-data-dir")
            .arg(home.data_dir())
            .arg("--maqet-config-dir")
            .arg(home.config_dir())
            .arg("--maqet-runtime-dir")
            .arg(&long)
            .args(args)
            .env("HOME", home.path())
            .env_remove("MAQET_CONFIG")
            .env("MAQET_RUNNER", maqet_tests::maqet_runner_binary())
            .output()
            .unwrap()
    };
    let config = home.write_config("deep", &no_os_config("deep", ""));
    let out = run(&["add", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&["add"], &out));

    let out = run(&["start", "deep"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("107 bytes"), "{err}");
    assert!(err.contains(long.to_str().unwrap()), "{err}");
    assert!(err.contains("qemu-qmp.sock"), "{err}");
    let out = run(&["status", "deep", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["is_running"], false, "{status}");
}

#[test]
fn permission_errors_from_the_os_exit_4() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "needs root to switch to uid 65534"
    );
    let home = MaqetHome::new();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for dir in ["data", "config", "runtime", "configs", "xdg"] {
        chown_tree(&home.path().join(dir), 65534);
    }
    let secret = home.configs_dir().join("secret.yaml");
    std::fs::write(&secret, no_os_config("secret", "")).unwrap();
    std::os::unix::fs::chown(&secret, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    let as_nobody = |data_dir: &Path, args: &[&std::ffi::OsStr]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(maqet_tests::maqet_binary())
            .arg("--maqet-data-dir")
            .arg(data_dir)
            .arg("--maqet-config-dir")
            .arg(home.config_dir())
            .arg("--maqet-runtime-dir")
            .arg(home.runtime_dir())
            .args(args)
            .env("HOME", home.path().join("xdg"))
            .env_remove("MAQET_CONFIG")
            .output()
            .expect("setpriv (util-linux) must be installed")
    };
    // A config file the OS will not let this user read.
    let out = as_nobody(&home.data_dir(), &["add".as_ref(), secret.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");

    // A data directory (so the state database) this user may not write.
    let root_data = home.path().join("root-data");
    std::fs::create_dir(&root_data).unwrap();
    std::fs::set_permissions(&root_data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = as_nobody(&root_data, &["ls".as_ref()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("cannot open the state database"),
        "{stderr}"
    );
}

fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap().flatten() {
            chown_tree(&entry.path(), uid);
        }
    }
}
