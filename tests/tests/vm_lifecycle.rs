//! Running VMs through the `maqet` CLI as a new user would (issue B): start, wait, status,
//! inspect, stop (graceful and by escalation), a killed QEMU, a QEMU that refuses its
//! arguments, `rm --force`, events and `wait`. Everything runs the real test guest (or a
//! VM without an OS) under TCG.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::thread;
use std::time::{Duration, Instant};

use maqet_tests::cli::{
    describe, is_alive, maqet, maqet_json, no_os_config, status, wait_until_dead,
};
use maqet_tests::{
    GUEST_KERNEL_APPEND, IGNORE_ACPI_PARAM, MaqetHome, READY_BANNER, guest_config_yaml,
    guest_config_yaml_with_append,
};
use serde_json::Value;

/// Writes `yaml` as `<name>.yaml` and `maqet add`s it.
fn add(home: &MaqetHome, name: &str, yaml: &str) {
    let config = home.write_config(name, yaml);
    let config = config.to_str().expect("temp paths are UTF-8");
    let out = maqet(home, &["add", config]);
    assert!(out.status.success(), "{}", describe(&["add", config], &out));
}

/// Adds the test guest as `name` (kernel command line `append`), starts it and waits for its banner.
fn boot_guest(home: &MaqetHome, name: &str, append: &str) -> Value {
    add(home, name, &guest_config_yaml_with_append(name, append, ""));
    let started = maqet_json(home, &["start", name]);
    maqet_json(
        home,
        &["wait", name, "--serial", READY_BANNER, "--timeout", "120"],
    );
    started
}

fn pid_of(report: &Value) -> u32 {
    let pid = report["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pid in {report}"));
    u32::try_from(pid).expect("PIDs fit in u32")
}

fn ls_row(home: &MaqetHome, name: &str) -> Value {
    let rows = maqet_json(home, &["ls"]);
    rows.as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("{name} missing from `ls`: {rows}"))
}

fn is_stopped_state(status: &Value) -> bool {
    matches!(status.as_str(), Some("stopped" | "crashed"))
}

#[test]
fn a_started_guest_is_live_ready_and_cannot_be_started_twice() {
    let home = MaqetHome::new();
    add(&home, "vm1", &guest_config_yaml("vm1", ""));

    let started = maqet_json(&home, &["start", "vm1"]);
    let pid = pid_of(&started);
    assert!(
        is_alive(pid),
        "start returned PID {pid}, which is not alive"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).starts_with("qemu-system-x86_64"),
        "PID {pid} is not QEMU: {:?}",
        String::from_utf8_lossy(&cmdline)
    );

    let waited = maqet_json(
        &home,
        &["wait", "vm1", "--serial", READY_BANNER, "--timeout", "120"],
    );
    assert_eq!(waited["condition"], "serial", "{waited}");
    assert!(
        waited["matched"]
            .as_str()
            .unwrap_or_default()
            .contains(READY_BANNER),
        "{waited}"
    );
    let serial =
        std::fs::read_to_string(maqet_tests::cli::vm_data_dir(&home, "vm1").join("serial.log"))
            .unwrap();
    assert!(
        serial.contains(READY_BANNER),
        "the serial log misses the banner"
    );

    let now = status(&home, "vm1");
    assert_eq!(now["status"], "running", "{now}");
    assert_eq!(now["is_running"], true, "{now}");
    assert_eq!(pid_of(&now), pid, "{now}");
    assert_eq!(ls_row(&home, "vm1")["pid"], pid, "ls shows the QEMU PID");

    let inspected = maqet_json(&home, &["inspect", "vm1"]);
    let rss = inspected["process"]["memory_info"]["rss"]
        .as_u64()
        .unwrap_or(0);
    assert!(rss > 0, "inspect must show QEMU's real RSS: {inspected}");

    let second = maqet(&home, &["start", "vm1"]);
    assert_eq!(
        second.status.code(),
        Some(3),
        "{}",
        describe(&["start", "vm1"], &second)
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("running"),
        "second start must say it is running: {stderr}"
    );
    assert!(
        is_alive(pid),
        "a refused second start must leave the VM alone"
    );
    assert_eq!(pid_of(&status(&home, "vm1")), pid);
}

#[test]
fn graceful_stop_powers_the_guest_down() {
    let home = MaqetHome::new();
    let pid = pid_of(&boot_guest(&home, "vm1", GUEST_KERNEL_APPEND));

    let asked = Instant::now();
    let stopped = maqet_json(&home, &["stop", "vm1"]);
    let took = asked.elapsed();
    assert_eq!(stopped["method"], "acpi", "{stopped}");
    assert_eq!(stopped["forced"], false, "{stopped}");
    assert!(
        took < Duration::from_secs(10),
        "graceful stop of a guest that powers off at once took {took:?}"
    );
    assert!(
        wait_until_dead(pid, Duration::from_secs(2)),
        "QEMU {pid} still runs after stop"
    );
    let now = status(&home, "vm1");
    assert_eq!(now["status"], "stopped", "{now}");
    assert_eq!(now["is_running"], false, "{now}");
    assert!(now["pid"].is_null(), "a stopped VM has no PID: {now}");
}

fn assert_stopped_by_escalation(home: &MaqetHome, name: &str, pid: u32) {
    let stopped = maqet_json(home, &["stop", name, "--timeout", "2"]);
    let method = stopped["method"].as_str().unwrap_or_default();
    assert!(
        matches!(method, "quit" | "sigterm" | "sigkill") && stopped["forced"] == true,
        "a VM that ignores ACPI must be stopped by quit/terminate/kill: {stopped}"
    );
    assert!(
        wait_until_dead(pid, Duration::from_secs(5)),
        "QEMU {pid} still runs"
    );
    assert_eq!(status(home, name)["status"], "stopped");
}

#[test]
fn a_guest_ignoring_the_power_button_is_stopped_by_escalation() {
    let home = MaqetHome::new();
    let append = format!("{GUEST_KERNEL_APPEND} {IGNORE_ACPI_PARAM}");
    let pid = pid_of(&boot_guest(&home, "deaf", &append));
    assert_stopped_by_escalation(&home, "deaf", pid);
}

#[test]
fn a_vm_without_an_os_is_stopped_by_escalation() {
    let home = MaqetHome::new();
    add(&home, "bare", &no_os_config("bare", "memory: 64M"));
    let pid = pid_of(&maqet_json(&home, &["start", "bare"]));
    assert_stopped_by_escalation(&home, "bare", pid);
}

#[test]
fn a_killed_qemu_shows_as_not_running_and_the_vm_starts_again() {
    let home = MaqetHome::new();
    add(&home, "bare", &no_os_config("bare", "memory: 64M"));
    let pid = pid_of(&maqet_json(&home, &["start", "bare"]));

    let raw_pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(raw_pid, libc::SIGKILL) }, 0);

    // `status` and `ls` must tell the truth within 3 s (the runner may need a moment to reap).
    let deadline = Instant::now() + Duration::from_secs(3);
    let (shown, listed) = loop {
        let shown = status(&home, "bare");
        let listed = ls_row(&home, "bare");
        let truthful = shown["is_running"] == false
            && is_stopped_state(&shown["status"])
            && is_stopped_state(&listed["status"]);
        if truthful || Instant::now() >= deadline {
            break (shown, listed);
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert!(
        is_stopped_state(&shown["status"]) && shown["is_running"] == false,
        "status still claims the killed VM runs: {shown}"
    );
    assert!(
        is_stopped_state(&listed["status"]),
        "ls still claims it runs: {listed}"
    );
    assert!(listed["pid"].is_null(), "ls shows a dead PID: {listed}");

    let again = maqet_json(&home, &["start", "bare"]);
    let new_pid = pid_of(&again);
    assert_ne!(new_pid, pid);
    assert!(is_alive(new_pid));
    assert_eq!(status(&home, "bare")["status"], "running");
}

#[test]
fn a_memory_size_that_is_not_a_size_is_rejected_when_added() {
    let home = MaqetHome::new();
    let config = home.write_config("bad", &no_os_config("bad", "memory: banana"));
    let config = config.to_str().unwrap();
    let out = maqet(&home, &["add", config]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        describe(&["add", config], &out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("banana"),
        "the message must name the bad value: {stderr}"
    );
    let rows = maqet_json(&home, &["ls"]);
    assert_eq!(rows, Value::Array(Vec::new()), "nothing may be added");
}

#[test]
fn qemu_refusing_its_arguments_fails_start_fast_with_qemus_message() {
    let home = MaqetHome::new();
    add(
        &home,
        "bad",
        // No `memory:` key here: it would clash with `-m` in `arguments`.
        "name: bad\nbinary: qemu-system-x86_64\naccel: tcg\ndisplay: none\narguments:\n  - m: banana\n",
    );

    let asked = Instant::now();
    let out = maqet(&home, &["start", "bad"]);
    let took = asked.elapsed();
    assert!(
        !out.status.success(),
        "{}",
        describe(&["start", "bad"], &out)
    );
    assert!(
        took < Duration::from_secs(5),
        "a refused -m must fail at once, took {took:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // QEMU 7.2 says: "qemu-system-x86_64: -m banana: Parameter 'size' expects a non-negative number ..."
    assert!(
        stderr.contains("banana") && stderr.contains("qemu-system-x86_64"),
        "stderr must carry QEMU's own message: {stderr}"
    );
    let now = status(&home, "bad");
    assert_eq!(now["is_running"], false, "{now}");
    assert!(now["pid"].is_null(), "{now}");
}

#[test]
fn rm_force_stops_and_removes_a_running_vm() {
    let home = MaqetHome::new();
    add(&home, "bare", &no_os_config("bare", "memory: 64M"));
    let started = maqet_json(&home, &["start", "bare"]);
    let pid = pid_of(&started);
    let runner_pid = started["runner_pid"].as_u64().map(|p| p as u32);

    let refused = maqet(&home, &["rm", "bare"]);
    assert!(
        !refused.status.success(),
        "rm of a running VM needs --force"
    );
    assert!(is_alive(pid), "a refused rm must not stop the VM");

    let out = maqet(&home, &["rm", "bare", "--force"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&["rm", "bare", "--force"], &out)
    );
    assert!(
        wait_until_dead(pid, Duration::from_secs(5)),
        "QEMU {pid} survived rm --force"
    );
    if let Some(runner) = runner_pid {
        assert!(
            wait_until_dead(runner, Duration::from_secs(5)),
            "runner {runner} survived"
        );
    }
    assert_eq!(maqet_json(&home, &["ls"]), Value::Array(Vec::new()));
    let gone = maqet(&home, &["status", "bare"]);
    assert_eq!(
        gone.status.code(),
        Some(3),
        "{}",
        describe(&["status", "bare"], &gone)
    );
}

#[test]
fn events_show_stop_and_resume_after_pause_and_resume() {
    let home = MaqetHome::new();
    add(&home, "bare", &no_os_config("bare", "memory: 64M"));
    maqet_json(&home, &["start", "bare"]);
    for args in [["qmp", "pause", "bare"], ["qmp", "resume", "bare"]] {
        let out = maqet(&home, &args);
        assert!(out.status.success(), "{}", describe(&args, &out));
    }

    // Events are recorded by the runner as they come; allow it a moment to write them.
    let deadline = Instant::now() + Duration::from_secs(5);
    let names = loop {
        let out = maqet(&home, &["events", "bare"]);
        assert!(
            out.status.success(),
            "{}",
            describe(&["events", "bare"], &out)
        );
        let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let event: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("`events` printed a non-JSON line {line:?}: {e}"));
                event["event"].as_str().unwrap_or_default().to_owned()
            })
            .collect();
        let stop = names.iter().position(|n| n == "STOP");
        let resume = names.iter().rposition(|n| n == "RESUME");
        if matches!((stop, resume), (Some(s), Some(r)) if s < r) || Instant::now() >= deadline {
            break names;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let stop = names.iter().position(|n| n == "STOP");
    let resume = names.iter().rposition(|n| n == "RESUME");
    assert!(
        matches!((stop, resume), (Some(s), Some(r)) if s < r),
        "expected STOP then RESUME in {names:?}"
    );
}

#[test]
fn wait_for_the_stopped_state_returns_when_the_guest_powers_off() {
    let home = MaqetHome::new();
    let pid = pid_of(&boot_guest(&home, "vm1", GUEST_KERNEL_APPEND));

    let mut waiter = home.cmd();
    waiter.args([
        "wait",
        "vm1",
        "--state",
        "stopped",
        "--timeout",
        "60",
        "--format",
        "json",
    ]);
    let waiter = thread::spawn(move || waiter.output().expect("the maqet binary must run"));
    // Give `wait` time to see the VM running, so it really waits for the change.
    thread::sleep(Duration::from_millis(500));
    // The guest powers itself off: the power button is pressed behind maqet's back.
    let out = maqet(&home, &["qmp", "vm1", "system_powerdown"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&["qmp", "vm1", "system_powerdown"], &out)
    );

    let done = waiter.join().expect("the wait thread must not panic");
    assert!(
        done.status.success(),
        "wait --state stopped: {}\n{}",
        done.status,
        String::from_utf8_lossy(&done.stderr)
    );
    let result: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(result["condition"], "state", "{result}");
    assert!(wait_until_dead(pid, Duration::from_secs(2)));
    let now = status(&home, "vm1");
    assert_eq!(now["status"], "stopped", "{now}");
    let reason = now["status_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("guest"),
        "the reason must say the guest shut down: {now}"
    );
}

#[test]
fn wait_that_never_matches_times_out_with_exit_2() {
    let home = MaqetHome::new();
    add(&home, "bare", &no_os_config("bare", "memory: 64M"));
    maqet_json(&home, &["start", "bare"]);
    let args = ["wait", "bare", "--timeout", "1", "--serial", "NEVER"];
    let out = maqet(&home, &args);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&args, &out));
    assert_eq!(
        status(&home, "bare")["status"],
        "running",
        "a wait changes nothing"
    );
}
