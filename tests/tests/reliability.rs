//! Issue E §1, §2, §3 and §5 through the `maqet` CLI: a VM outlives its killed runner and is
//! re-adopted; one writer per VM; recorded PIDs that now belong to other processes are never
//! trusted or signalled; private runtime dirs and sockets, peer-uid checks, no shell, no
//! storage paths in system dirs, dangerous QMP gated.
//!
//! Every VM here has no OS (`memory: 64M`, `accel: tcg`, `display: none`). The [`MaqetHome`]
//! kills whatever QEMU or runner is left when a test ends; `sleep` processes and lock holders
//! started here are killed by their guards. The peer-uid test needs root, `setpriv` and
//! `python3` (its QMP probe runs as another uid); the stale-state tests edit the state
//! database with rusqlite. A test that cannot run fails saying what is missing (CI runs as root
//! with both installed).
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use maqet_tests::cli::{
    add, describe, fails_with, is_alive, maqet, maqet_json, no_os_config, status, wait_until_dead,
};
use maqet_tests::{MaqetHome, QemuProcessGuard};
use serde_json::Value;

/// Writes `yaml` as `<name>.yaml` and runs `maqet add` on it.
fn try_add(home: &MaqetHome, name: &str, yaml: &str) -> Output {
    let config = home.write_config(name, yaml);
    maqet(
        home,
        &["add", config.to_str().expect("temp paths are UTF-8")],
    )
}

fn pid_field(report: &Value, field: &str) -> u32 {
    let pid = report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no `{field}` in {report}"));
    u32::try_from(pid).expect("PIDs fit in u32")
}

/// The process's command line, arguments separated.
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn program_name(pid: u32) -> String {
    cmdline(pid)
        .first()
        .and_then(|argv0| argv0.rsplit('/').next().map(str::to_owned))
        .unwrap_or_default()
}

/// `kill -9 PID` (the runner is not our child).
fn kill_9(pid: u32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill must run");
    assert!(status.success(), "kill -9 {pid} failed");
    assert!(
        wait_until_dead(pid, Duration::from_secs(10)),
        "PID {pid} survived SIGKILL"
    );
}

/// The runtime dir maqet keeps for the VM: `<runtime>/vms/<id>`.
fn vm_runtime_dir(home: &MaqetHome, name: &str) -> PathBuf {
    let id = status(home, name)["vm_id"]
        .as_str()
        .expect("status has a vm_id")
        .to_owned();
    home.runtime_dir().join("vms").join(id)
}

/// Live QEMU processes whose command line mentions `needle` (the VM's runtime dir).
fn qemu_processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy();
    std::fs::read_dir("/proc")
        .expect("/proc is readable")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            is_alive(pid)
                && program_name(pid) == "qemu-system-x86_64"
                && cmdline(pid).iter().any(|arg| arg.contains(&*needle))
        })
        .collect()
}

fn events(home: &MaqetHome, name: &str) -> Vec<Value> {
    let path = maqet_tests::cli::vm_data_dir(home, name).join("events.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event line {l:?}: {e}")))
        .collect()
}

fn readoption_count(home: &MaqetHome, name: &str, qemu_pid: u32) -> usize {
    events(home, name)
        .iter()
        .filter(|e| e["event"] == "MAQET_READOPTED" && e["data"]["qemu_pid"] == qemu_pid)
        .count()
}

/// python3 outside any per-user shim (so it also runs as another uid), if present.
fn python3() -> Option<PathBuf> {
    let system = PathBuf::from("/usr/bin/python3");
    if system.is_file() {
        return Some(system);
    }
    let found = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(PathBuf::from(
        String::from_utf8_lossy(&found.stdout).trim().to_owned(),
    ))
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

/// Kills the VM's runner with SIGKILL and checks QEMU survives; returns the old runner PID.
fn kill_runner_keeping_qemu(home: &MaqetHome, name: &str, qemu_pid: u32) -> u32 {
    let before = status(home, name);
    let runner_pid = pid_field(&before, "runner_pid");
    assert_eq!(
        program_name(runner_pid),
        "maqet-runner",
        "runner_pid {runner_pid} must be the runner: {before}"
    );
    kill_9(runner_pid);
    thread::sleep(Duration::from_millis(300));
    assert!(
        is_alive(qemu_pid),
        "QEMU (pid {qemu_pid}) must not die with its runner"
    );
    runner_pid
}

/// The VM is running again with the same QEMU and a new, live runner.
fn assert_readopted(report: &Value, qemu_pid: u32, old_runner: u32) {
    assert_eq!(report["status"], "running", "{report}");
    assert_eq!(pid_field(report, "pid"), qemu_pid, "{report}");
    let runner = pid_field(report, "runner_pid");
    assert_ne!(runner, old_runner, "a new runner must take over: {report}");
    assert!(is_alive(runner), "the new runner {runner} is not alive");
    assert_eq!(program_name(runner), "maqet-runner", "{report}");
}

fn assert_qmp_answers(home: &MaqetHome, name: &str) {
    let answer = maqet_json(home, &["qmp", name, "query-status"]);
    assert_eq!(answer["running"], true, "{answer}");
}

#[test]
fn a_vm_survives_its_killed_runner_and_is_readopted_by_status_ls_and_qmp() {
    let home = MaqetHome::new();
    add(&home, "vm1", &no_os_config("vm1", ""));
    let qemu_pid = pid_field(&maqet_json(&home, &["start", "vm1"]), "pid");
    let socket = PathBuf::from(
        status(&home, "vm1")["socket_path"]
            .as_str()
            .expect("a running VM has a socket_path"),
    );

    // `status` re-adopts.
    let old_runner = kill_runner_keeping_qemu(&home, "vm1", qemu_pid);
    assert_readopted(&status(&home, "vm1"), qemu_pid, old_runner);
    assert!(socket.exists(), "the multiplexer socket must be back");
    assert_qmp_answers(&home, "vm1");
    assert_eq!(readoption_count(&home, "vm1", qemu_pid), 1);

    // `ls` re-adopts.
    let old_runner = kill_runner_keeping_qemu(&home, "vm1", qemu_pid);
    let rows = maqet_json(&home, &["ls"]);
    let row = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "vm1"))
        .unwrap_or_else(|| panic!("vm1 missing from `ls`: {rows}"));
    assert_eq!(row["status"], "running", "{row}");
    assert_eq!(row["pid"], qemu_pid, "{row}");
    assert_eq!(
        readoption_count(&home, "vm1", qemu_pid),
        2,
        "`ls` itself must re-adopt"
    );
    assert_readopted(&status(&home, "vm1"), qemu_pid, old_runner);
    assert_qmp_answers(&home, "vm1");

    // `qmp` as the first command after the kill re-adopts.
    let old_runner = kill_runner_keeping_qemu(&home, "vm1", qemu_pid);
    assert_qmp_answers(&home, "vm1");
    assert_eq!(
        readoption_count(&home, "vm1", qemu_pid),
        3,
        "`qmp` itself must re-adopt"
    );
    assert_readopted(&status(&home, "vm1"), qemu_pid, old_runner);

    // `stop` stops the re-adopted QEMU (no longer the runner's child).
    maqet_json(&home, &["stop", "vm1", "--force"]);
    assert!(
        wait_until_dead(qemu_pid, Duration::from_secs(10)),
        "QEMU must be gone after stop"
    );
    let after = status(&home, "vm1");
    assert_ne!(after["status"], "running", "{after}");
    assert_eq!(after["is_running"], false, "{after}");
}

#[test]
fn stop_as_the_first_command_after_a_runner_kill_stops_qemu() {
    let home = MaqetHome::new();
    add(&home, "vm1", &no_os_config("vm1", ""));
    let qemu_pid = pid_field(&maqet_json(&home, &["start", "vm1"]), "pid");
    kill_runner_keeping_qemu(&home, "vm1", qemu_pid);

    maqet_json(&home, &["stop", "vm1", "--force"]);
    assert!(
        wait_until_dead(qemu_pid, Duration::from_secs(10)),
        "QEMU must be gone after stop"
    );
    assert_eq!(status(&home, "vm1")["is_running"], false);
}

#[test]
fn ten_concurrent_starts_of_one_vm_give_one_qemu() {
    let home = MaqetHome::new();
    add(&home, "vm1", &no_os_config("vm1", ""));
    let runtime = vm_runtime_dir(&home, "vm1");
    let starts = 10;
    let barrier = Barrier::new(starts);
    let outputs: Vec<Output> = thread::scope(|scope| {
        let handles: Vec<_> = (0..starts)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    maqet(&home, &["start", "vm1"])
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("start thread"))
            .collect()
    });

    let all: String = outputs
        .iter()
        .map(|o| describe(&["start", "vm1"], o))
        .collect();
    let winners = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "exactly one start must succeed:\n{all}");
    for out in outputs.iter().filter(|o| !o.status.success()) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("running") || (out.status.code() == Some(2) && stderr.contains("busy")),
            "a losing start must say the VM is running (or busy, exit 2):\n{all}"
        );
    }
    let qemus = qemu_processes_mentioning(&runtime);
    assert_eq!(qemus.len(), 1, "QEMU processes for vm1: {qemus:?}");
    assert_eq!(pid_field(&status(&home, "vm1"), "pid"), qemus[0]);
}

/// Holds the flock on a VM's lock file until released (or dropped). A flock belongs to the
/// open file, so the `maqet` child processes see it as held by someone else.
struct LockHolder {
    file: std::fs::File,
}

impl LockHolder {
    fn hold(lock_file: &Path) -> Self {
        let dir = lock_file.parent().expect("the lock file has a directory");
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(lock_file)
            .unwrap_or_else(|e| panic!("open {}: {e}", lock_file.display()));
        // SAFETY: flock(2) on a descriptor this function owns; it only takes the lock.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(
            locked,
            0,
            "flock {}: {}",
            lock_file.display(),
            std::io::Error::last_os_error()
        );
        Self { file }
    }

    /// Releases the lock (closing the file drops it).
    fn release(self) {
        drop(self.file);
    }
}

#[test]
fn a_held_vm_lock_makes_only_that_vm_wait() {
    let home = MaqetHome::new();
    add(&home, "locked", &no_os_config("locked", ""));
    add(&home, "other", &no_os_config("other", ""));
    let id = status(&home, "locked")["vm_id"]
        .as_str()
        .expect("vm_id")
        .to_owned();
    let lock_file = home.runtime_dir().join("locks").join(format!("{id}.lock"));
    let holder = LockHolder::hold(&lock_file);

    // Another VM's lock is not ours: this succeeds while `locked` stays locked (had it waited
    // for that lock it would have given up as busy, exit 2).
    let other = maqet(&home, &["start", "other"]);
    assert!(
        other.status.success(),
        "{}",
        describe(&["start", "other"], &other)
    );
    assert_eq!(status(&home, "other")["status"], "running");

    thread::scope(|scope| {
        let waiting = scope.spawn(|| maqet(&home, &["start", "locked"]));
        thread::sleep(Duration::from_secs(2));
        assert!(
            !waiting.is_finished(),
            "`start locked` must wait while another process holds the VM's lock"
        );
        holder.release();
        let out = waiting.join().expect("start thread");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || stderr.contains("running"),
            "{}",
            describe(&["start", "locked"], &out)
        );
    });
    assert_eq!(status(&home, "locked")["status"], "running");
}

/// Starts and stops `name`, so its row looks like any stopped VM's.
fn add_stopped_vm(home: &MaqetHome, name: &str) {
    add(home, name, &no_os_config(name, ""));
    maqet_json(home, &["start", name]);
    maqet_json(home, &["stop", name, "--force"]);
}

/// Makes the VM's row claim it runs as `pid` (QEMU and runner) with `start_time`.
fn fake_running_row(home: &MaqetHome, name: &str, pid: u32, start_time: u64) {
    let changed = maqet_tests::sqlite::execute(
        &home.data_dir().join("maqet.db"),
        "UPDATE vms SET status='running', qemu_pid=?1, qemu_start_time=?2, runner_pid=?1, \
         runner_start_time=?2 WHERE name=?3",
        rusqlite::params![pid, start_time, name],
    );
    assert_eq!(changed, 1, "no row for VM {name}");
}

/// Start time of a process in clock ticks since boot (`/proc/PID/stat` field 22).
fn start_time_of(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process exists");
    let after_name = &stat[stat.rfind(')').expect("stat has a name") + 1..];
    // Field 3 is the first after the name; field 22 is the 20th after it.
    after_name
        .split_whitespace()
        .nth(19)
        .and_then(|f| f.parse().ok())
        .expect("stat field 22")
}

fn spawn_sleep() -> QemuProcessGuard {
    QemuProcessGuard::new(
        Command::new("sleep")
            .arg("300")
            .spawn()
            .expect("sleep must start"),
    )
}

/// With the row pointing at an unrelated `sleep`, maqet reports the VM not running and
/// neither `stop` nor `rm --force` signals the sleep.
fn check_unrelated_pid_is_left_alone(start_time: impl Fn(u32) -> u64) {
    let home = MaqetHome::new();
    add_stopped_vm(&home, "vm1");
    let mut sleep = spawn_sleep();
    let pid = sleep.id();

    fake_running_row(&home, "vm1", pid, start_time(pid));
    let now = status(&home, "vm1");
    assert_ne!(now["status"], "running", "{now}");
    assert_eq!(now["is_running"], false, "{now}");
    let listed = maqet_json(&home, &["ls"]);
    assert!(
        listed
            .as_array()
            .is_some_and(|rows| rows.iter().all(|r| r["status"] != "running")),
        "{listed}"
    );

    fake_running_row(&home, "vm1", pid, start_time(pid));
    let stop = maqet(&home, &["stop", "vm1", "--timeout", "1"]);
    thread::sleep(Duration::from_millis(300));
    assert!(
        sleep.is_running(),
        "`maqet stop` signalled an unrelated process (pid {pid}): {}",
        describe(&["stop", "vm1"], &stop)
    );

    fake_running_row(&home, "vm1", pid, start_time(pid));
    let rm = maqet(&home, &["rm", "vm1", "--force"]);
    thread::sleep(Duration::from_millis(300));
    assert!(
        sleep.is_running(),
        "`maqet rm --force` signalled an unrelated process (pid {pid}): {}",
        describe(&["rm", "vm1", "--force"], &rm)
    );
    assert!(
        rm.status.success(),
        "{}",
        describe(&["rm", "vm1", "--force"], &rm)
    );
}

#[test]
fn a_recorded_pid_with_another_start_time_is_neither_trusted_nor_signalled() {
    check_unrelated_pid_is_left_alone(|_| 123);
}

#[test]
fn a_recorded_pid_that_is_not_qemu_is_neither_trusted_nor_signalled() {
    // Same PID and start time as recorded, but the process is `sleep`, not this VM's QEMU.
    check_unrelated_pid_is_left_alone(start_time_of);
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn the_runtime_dir_and_every_socket_are_private() {
    let home = MaqetHome::new();
    add(&home, "vm1", &no_os_config("vm1", ""));
    maqet_json(&home, &["start", "vm1"]);
    let dir = vm_runtime_dir(&home, "vm1");

    assert_eq!(mode_of(&dir), 0o700, "{}", dir.display());
    assert_eq!(
        mode_of(&home.runtime_dir().join("vms")) & 0o077,
        0,
        "<runtime>/vms must be private"
    );
    let qmp = dir.join("qmp.sock");
    assert_eq!(mode_of(&qmp), 0o600, "{}", qmp.display());
    let mut sockets = 0;
    for entry in std::fs::read_dir(&dir).expect("runtime dir readable") {
        let path = entry.expect("dir entry").path();
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        if meta.file_type().is_socket() {
            sockets += 1;
            assert_eq!(
                mode_of(&path) & 0o077,
                0,
                "{} is open to others",
                path.display()
            );
        }
    }
    assert!(sockets >= 2, "expected QMP sockets in {}", dir.display());
}

/// Connects to `socket`, answers the greeting with `qmp_capabilities`, asks `query-status`,
/// and prints everything received, then `EOF` if the runner closed the connection (`OPEN`
/// when it was still open after 5 s without data).
const QMP_PROBE: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
got = b''
closed = False
try:
    got += s.recv(65536)
    s.sendall(b'{"execute": "qmp_capabilities"}\n{"execute": "query-status"}\n')
    while True:
        chunk = s.recv(65536)
        if not chunk:
            closed = True
            break
        got += chunk
        if got.count(b'"return"') >= 2:
            break
except (BrokenPipeError, ConnectionResetError):
    closed = True
except socket.timeout:
    pass
sys.stdout.write(got.decode('utf-8', 'replace'))
print('EOF' if closed else 'OPEN')
"#;

#[test]
fn a_peer_of_another_uid_is_refused_by_the_runner() {
    // SAFETY: getuid(2) has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let setpriv = Path::new("/usr/bin/setpriv");
    if uid != 0 || !setpriv.is_file() {
        panic!(
            "needs root and /usr/bin/setpriv to connect as uid 65534; run the tests as root, as CI does"
        );
    }
    let Some(python) = python3() else {
        panic!("python3 is needed for the QMP probe (scripts/setup.sh installs it)");
    };
    let home = MaqetHome::new();
    add(&home, "vm1", &no_os_config("vm1", ""));
    maqet_json(&home, &["start", "vm1"]);
    let dir = vm_runtime_dir(&home, "vm1");
    let socket = dir.join("qmp.sock");

    // The VM's owner gets an answer (proves the probe works).
    let own = Command::new(&python)
        .args(["-c", QMP_PROBE])
        .arg(&socket)
        .output()
        .expect("python3 must run");
    let own = String::from_utf8_lossy(&own.stdout).into_owned();
    assert!(own.contains("\"running\""), "owner probe: {own}");

    // Open the path to everyone, so only the runner's peer-uid check stands in the way.
    for path in [
        home.path().to_path_buf(),
        home.runtime_dir(),
        home.runtime_dir().join("vms"),
        dir.clone(),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o711))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777))
        .expect("chmod qmp.sock");

    let other = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&python)
        .args(["-c", QMP_PROBE])
        .arg(&socket)
        .output()
        .expect("setpriv must run");
    let stdout = String::from_utf8_lossy(&other.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&other.stderr).into_owned();
    assert!(
        other.status.success(),
        "the probe as uid 65534 must connect (the runner refuses, not the file system): {stderr}"
    );
    assert!(
        !stdout.contains("\"return\""),
        "uid 65534 must not get QMP answers: {stdout}"
    );
    assert!(
        stdout.to_lowercase().contains("permission denied"),
        "the refusal must say why: {stdout}"
    );
    assert!(
        stdout.trim_end().ends_with("EOF"),
        "the runner must close the connection: {stdout}"
    );
    assert_eq!(status(&home, "vm1")["status"], "running");
}

/// The VM never ran a shell on a config value: the marker file was not created.
fn assert_no_marker(marker: &Path) {
    thread::sleep(Duration::from_millis(300));
    let exists = marker.exists();
    let _ = std::fs::remove_file(marker);
    assert!(
        !exists,
        "{} was created: a config value reached a shell",
        marker.display()
    );
}

#[test]
fn a_shell_command_in_a_device_string_is_never_run() {
    let home = MaqetHome::new();
    let marker = PathBuf::from(format!("/tmp/pwned-{}", unique_suffix()));
    let extra = format!(
        "arguments:\n  - {{device: \"virtio-rng-pci,id=x;touch {}\"}}\n",
        marker.display()
    );
    add(&home, "vm1", &no_os_config("vm1", &extra));
    let runtime = vm_runtime_dir(&home, "vm1");

    let out = maqet(&home, &["start", "vm1"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "QEMU refuses the device string: {}",
        describe(&["start", "vm1"], &out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("virtio-rng-pci,id=x;touch"),
        "the error shows what QEMU refused: {}",
        describe(&["start", "vm1"], &out)
    );
    assert_no_marker(&marker);
    assert_eq!(status(&home, "vm1")["is_running"], false);
    assert!(qemu_processes_mentioning(&runtime).is_empty());
}

#[test]
fn shell_syntax_in_an_accepted_value_reaches_qemu_literally() {
    let home = MaqetHome::new();
    let marker1 = PathBuf::from(format!("/tmp/pwned-{}-a", unique_suffix()));
    let marker2 = PathBuf::from(format!("/tmp/pwned-{}-b", unique_suffix()));
    let value = format!(
        "type=1,serial=$(touch {})`touch {}`",
        marker1.display(),
        marker2.display()
    );
    let extra = format!("arguments:\n  - {{smbios: '{value}'}}\n");
    add(&home, "vm1", &no_os_config("vm1", &extra));

    let pid = pid_field(&maqet_json(&home, &["start", "vm1"]), "pid");
    assert!(
        cmdline(pid).contains(&value),
        "QEMU must get the value as one argv word: {:?}",
        cmdline(pid)
    );
    assert_no_marker(&marker1);
    assert_no_marker(&marker2);
}

#[test]
fn a_drive_path_escaping_into_etc_is_refused() {
    let home = MaqetHome::new();
    let evil = format!("maqet-evil-{}.qcow2", unique_suffix());
    let target = Path::new("/etc").join(&evil);
    assert!(
        !target.exists(),
        "{} exists before the test",
        target.display()
    );
    let extra =
        format!("storage:\n  - {{name: evil, type: qcow2, file: /tmp/../etc/{evil}, size: 1M}}\n");

    let added = try_add(&home, "vm1", &no_os_config("vm1", &extra));
    let refused = if added.status.success() {
        maqet(&home, &["start", "vm1"])
    } else {
        added
    };
    let created = target.exists();
    let _ = std::fs::remove_file(&target);
    assert!(!created, "{} was created", target.display());
    assert_eq!(
        refused.status.code(),
        Some(3),
        "{}",
        describe(&["add/start", "vm1"], &refused)
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("/etc"), "the refusal names /etc: {stderr}");
}

const HMP: [&str; 3] = ["human-monitor-command", "--command-line", "info version"];

#[test]
fn dangerous_qmp_is_refused_without_allow_dangerous() {
    let home = MaqetHome::new();
    add(&home, "vm1", &no_os_config("vm1", ""));
    maqet_json(&home, &["start", "vm1"]);

    let mut args = vec!["qmp", "vm1"];
    args.extend(HMP);
    let stderr = fails_with(&home, &args, 3);
    assert!(stderr.contains("--allow-dangerous"), "{stderr}");

    let mut args = vec!["qmp", "vm1", "--allow-dangerous"];
    args.extend(HMP);
    let allowed = maqet(&home, &args);
    assert!(allowed.status.success(), "{}", describe(&args, &allowed));
    assert_prints_a_version(&args, &allowed);
}

#[test]
fn allow_dangerous_written_after_the_qmp_arguments_is_honoured() {
    let home = MaqetHome::new();
    add(&home, "vm1", &no_os_config("vm1", ""));
    maqet_json(&home, &["start", "vm1"]);

    let mut args = vec!["qmp", "vm1"];
    args.extend(HMP);
    args.push("--allow-dangerous");
    let allowed = maqet(&home, &args);
    assert!(allowed.status.success(), "{}", describe(&args, &allowed));
    assert_prints_a_version(&args, &allowed);
}

/// HMP `info version` prints QEMU's version, such as `7.2.22`.
fn assert_prints_a_version(args: &[&str], out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains('.') && stdout.chars().any(|c| c.is_ascii_digit()),
        "{}",
        describe(args, out)
    );
}
