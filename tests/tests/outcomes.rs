//! Issue L §7 through the `maqet` CLI: what maqet reports is what happened.
//!
//! Real parts: real QEMU (no OS, `accel: tcg`; the test guest where serial output is needed)
//! killed with a real SIGKILL or frozen with SIGSTOP, a VM whose QMP socket was really removed,
//! logs rotated on disk by the real runner (`MAQET_MAX_LOG_BYTES` lowers the limit), and
//! output written to the real `/dev/full` and to a pipe whose reader is gone.
//!
//! Build the binaries first: `cargo build --workspace`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use maqet_tests::cli::{
    add, describe, is_alive, maqet, maqet_json, no_os_config, status, wait_until_dead,
};
use maqet_tests::{MaqetHome, guest_config_yaml_with_append};
use serde_json::Value;

/// `maqet` against `home` as a plain `std::process::Command` (to spawn it or give it odd
/// stdout), with the same dirs and runner as [`MaqetHome::cmd`].
fn plain_cmd(home: &MaqetHome) -> Command {
    let mut command = Command::new(maqet_tests::maqet_binary());
    command
        .arg("--maqet-data-dir")
        .arg(home.data_dir())
        .arg("--maqet-config-dir")
        .arg(home.config_dir())
        .arg("--maqet-runtime-dir")
        .arg(home.runtime_dir())
        .env("HOME", home.path())
        .env_remove("MAQET_CONFIG")
        .env("MAQET_RUNNER", maqet_tests::maqet_runner_binary());
    command
}

fn qemu_pid(report: &Value) -> u32 {
    let pid = report["vm"]["pid"]
        .as_u64()
        .or_else(|| report["pid"].as_u64())
        .unwrap_or_else(|| panic!("no pid in {report}"));
    u32::try_from(pid).unwrap()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(
        unsafe { libc::kill(pid as libc::pid_t, sig) },
        0,
        "kill {pid}"
    );
}

/// Polls `status` until `done` holds (or 30 s pass); returns the last report.
fn status_until(home: &MaqetHome, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = status(home, name);
        if done(&now) || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn runtime_dir_of(home: &MaqetHome) -> PathBuf {
    let vms = home.runtime_dir().join("vms");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&vms)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("qmp.sock").exists())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.remove(0)
}

fn data_dir_of(home: &MaqetHome, name: &str) -> PathBuf {
    let info = maqet_json(home, &["info", name]);
    PathBuf::from(info["data_dir"].as_str().unwrap())
}

#[test]
fn a_qemu_killed_by_a_signal_nobody_in_maqet_sent_is_crashed_with_the_signal() {
    let home = MaqetHome::new();
    add(&home, "oom", &no_os_config("oom", ""));
    let pid = qemu_pid(&maqet_json(&home, &["start", "oom"]));
    signal(pid, libc::SIGKILL);
    assert!(wait_until_dead(pid, Duration::from_secs(10)));
    let now = status_until(&home, "oom", |s| s["status"] == "crashed");
    assert_eq!(now["status"], "crashed", "{now}");
    let reason = now["status_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("signal 9 (SIGKILL)"), "{reason}");

    // A stop that maqet escalates to SIGKILL is a stop, not a crash.
    let pid = qemu_pid(&maqet_json(&home, &["start", "oom"]));
    signal(pid, libc::SIGSTOP); // deaf to QMP and to SIGTERM until killed
    let stopped = maqet_json(&home, &["stop", "oom", "--force"]);
    assert_eq!(stopped["method"], "sigkill", "{stopped}");
    let now = status(&home, "oom");
    assert_eq!(now["status"], "stopped", "{now}");
}

#[test]
fn a_stop_that_cannot_reach_qmp_says_it_skipped_acpi_and_why() {
    let home = MaqetHome::new();
    add(&home, "deaf", &no_os_config("deaf", ""));
    let pid = qemu_pid(&maqet_json(&home, &["start", "deaf"]));
    let runtime = runtime_dir_of(&home);
    std::fs::remove_file(runtime.join("qmp.sock")).unwrap();

    let out = maqet(&home, &["stop", "deaf"]);
    assert!(out.status.success(), "{}", describe(&["stop"], &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipping the ACPI power-down"), "{stderr}");
    assert!(stderr.contains("qmp.sock did not answer"), "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
    assert!(!is_alive(pid));
    assert_eq!(status(&home, "deaf")["status"], "stopped");
}

/// Whether any UNIX socket of this process is connected to a path under `dir` (from
/// /proc/net/unix: the server side of an accepted connection carries the path).
fn connections_to(path: &Path) -> usize {
    let table = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let wanted = path.to_string_lossy();
    table
        .lines()
        .filter(|l| l.ends_with(wanted.as_ref()))
        .count()
}

#[test]
fn a_live_snapshot_whose_qemu_died_says_so() {
    let home = MaqetHome::new();
    add(
        &home,
        "snap",
        &no_os_config(
            "snap",
            "storage:\n  - {name: hdd, type: qcow2, size: 64M}\n",
        ),
    );
    let pid = qemu_pid(&maqet_json(&home, &["start", "snap"]));
    let socket = runtime_dir_of(&home).join("qmp.sock");
    let before = connections_to(&socket);
    signal(pid, libc::SIGSTOP);
    let child = plain_cmd(&home)
        .args(["snapshot", "snap", "create", "hdd", "s1", "--live"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the snapshot command is connected to the VM's QMP socket, then kill QEMU.
    let deadline = Instant::now() + Duration::from_secs(60);
    while connections_to(&socket) <= before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(pid, libc::SIGKILL);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("died while trying to save snapshot `s1`"),
        "{stderr}"
    );
    assert!(!stderr.contains("QEMU's reason is below"), "{stderr}");
}

#[test]
fn events_and_serial_logs_are_rotated_by_size() {
    let home = MaqetHome::new();
    // Without `quiet` the kernel logs its whole boot on ttyS0: tens of KiB.
    add(
        &home,
        "chatty",
        &guest_config_yaml_with_append("chatty", "console=ttyS0 panic=-1", ""),
    );
    let start = home
        .cmd()
        .env("MAQET_MAX_LOG_BYTES", "4096")
        .args(["start", "chatty", "--format", "json"])
        .output()
        .unwrap();
    assert!(start.status.success(), "{}", describe(&["start"], &start));
    let data = data_dir_of(&home, "chatty");
    let serial = data.join("serial.log");
    let serial_old = data.join("serial.log.1");
    let deadline = Instant::now() + Duration::from_secs(180);
    while !serial_old.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(serial_old.exists(), "serial.log was never rotated");
    assert!(std::fs::metadata(&serial_old).unwrap().len() > 4096);
    // QEMU appends: after the truncation its writes start at offset 0, not after a hole.
    std::thread::sleep(Duration::from_secs(3));
    let now = std::fs::read(&serial).unwrap();
    assert!(
        now.first() != Some(&0),
        "serial.log starts with a hole of NULs"
    );

    // Pause/resume makes events; events.jsonl stays near the limit.
    for _ in 0..25 {
        maqet_json(&home, &["qmp", "pause", "chatty"]);
        maqet_json(&home, &["qmp", "resume", "chatty"]);
    }
    let events = data.join("events.jsonl");
    let events_old = data.join("events.jsonl.1");
    assert!(events_old.exists(), "events.jsonl was never rotated");
    assert!(std::fs::metadata(&events).unwrap().len() <= 4096 + 512);
    let last_line = std::fs::read_to_string(&events_old).unwrap();
    assert!(
        last_line
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );

    // A new launch keeps the previous boot's serial log as serial.log.1.
    maqet_json(&home, &["stop", "chatty", "--force"]);
    let before = std::fs::read(&serial).unwrap();
    maqet_json(&home, &["start", "chatty"]);
    assert_eq!(std::fs::read(&serial_old).unwrap(), before);
    maqet_json(&home, &["stop", "chatty", "--force"]);
}

#[test]
fn output_to_a_full_disk_or_a_closed_pipe_exits_non_zero() {
    let home = MaqetHome::new();
    add(&home, "listed", &no_os_config("listed", ""));
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full must exist");
    let out = plain_cmd(&home).args(["ls"]).stdout(full).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write the output"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");

    // A pipe whose reader is gone before maqet starts.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = plain_cmd(&home)
        .args(["ls", "--format", "json"])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Broken pipe"), "{stderr}");
}
