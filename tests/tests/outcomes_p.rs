//! Issue P (6, 7) and issue N (5): outcomes a user can rely on.
//!
//! - Two VMs racing for one host port: the loser exits 3 naming the port and its holder and is
//!   not marked `failed`; `add` refuses a host port another VM forwards unless `--force`.
//! - A start whose runner died while the VM came up reports the re-adopted VM as started.
//! - `qmp pause`/`resume` and raw `qmp VM stop`/`cont` return only once `status` shows the new
//!   state (CLI and Rust API, 20 rounds each).
//! - `snapshot create` right after `add` creates the qcow2 image as `start` would.
//! - `stop` on real guests: an ignored first ACPI press is repeated (method `acpi`), a guest
//!   that ignores ACPI but runs the agent powers off through it (method `agent`), and the
//!   result says whether maqet had to force QEMU down.
//!
//! Build the binaries first: `cargo build --workspace`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::Output;
use std::time::{Duration, Instant};

use maqet_core::{Maqet, VmStatus};
use maqet_tests::cli::{
    add, describe, fails_with, maqet, maqet_json, no_os_config, status, vm_data_dir,
};
use maqet_tests::{
    GUEST_KERNEL_APPEND, IGNORE_ACPI_PARAM, MaqetHome, READY_BANNER, guest_config_yaml_with_append,
    maqet_runner_binary,
};
use serde_json::Value;

/// Kernel parameter of the test guest that makes it ignore only the first ACPI press.
const ACPI_IGNORE_FIRST_PARAM: &str = "maqet.acpi_ignore_first=1";

/// A TCP port on 127.0.0.1 that is free right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

fn ports_yaml(port: u16) -> String {
    format!("ports:\n  - {{host: {port}, guest: 22}}\n")
}

/// Writes `yaml` as `<name>.yaml` and runs `maqet add` on it with `extra` options.
fn add_with(home: &MaqetHome, name: &str, yaml: &str, extra: &[&str]) -> Output {
    let config = home.write_config(name, yaml);
    let mut args = vec!["add", config.to_str().expect("temp paths are UTF-8")];
    args.extend(extra);
    maqet(home, &args)
}

#[test]
fn add_refuses_a_host_port_another_vm_forwards_unless_forced() {
    let home = MaqetHome::new();
    let port = free_port();
    add(&home, "first", &no_os_config("first", &ports_yaml(port)));

    let yaml = no_os_config("second", &ports_yaml(port));
    let out = add_with(&home, "second", &yaml, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&["add"], &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("host port {port}/tcp"))
            && stderr.contains("VM `first`")
            && stderr.contains("--force"),
        "{stderr}"
    );
    let rows = maqet_json(&home, &["ls"]);
    assert_eq!(
        rows.as_array().map(Vec::len),
        Some(1),
        "nothing added: {rows}"
    );

    let out = add_with(&home, "second", &yaml, &["--force"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&["add", "--force"], &out)
    );
    // Another port, or another address of a VM that listens on one address only, is fine.
    let other = no_os_config("third", &ports_yaml(free_port()));
    assert!(add_with(&home, "third", &other, &[]).status.success());
}

#[test]
fn two_vms_racing_for_one_host_port_the_loser_exits_3_and_is_not_failed() {
    let home = MaqetHome::new();
    let port = free_port();
    add(&home, "a", &no_os_config("a", &ports_yaml(port)));
    let out = add_with(
        &home,
        "b",
        &no_os_config("b", &ports_yaml(port)),
        &["--force"],
    );
    assert!(out.status.success(), "{}", describe(&["add", "b"], &out));

    for round in 0..3 {
        let outs: Vec<Output> = std::thread::scope(|scope| {
            let racers = ["a", "b"].map(|vm| {
                let home = &home;
                scope.spawn(move || maqet(home, &["start", vm]))
            });
            racers
                .into_iter()
                .map(|r| r.join().expect("maqet start finishes"))
                .collect()
        });
        let winners: Vec<usize> = (0..2).filter(|&i| outs[i].status.success()).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one VM gets the port:\n{}\n{}",
            describe(&["start", "a"], &outs[0]),
            describe(&["start", "b"], &outs[1])
        );
        let (winner, loser) = if winners[0] == 0 {
            ("a", "b")
        } else {
            ("b", "a")
        };
        let lost = &outs[1 - winners[0]];
        assert_eq!(
            lost.status.code(),
            Some(3),
            "{}",
            describe(&["start", loser], lost)
        );
        let stderr = String::from_utf8_lossy(&lost.stderr);
        assert!(
            stderr.contains(&format!("host port {port}/tcp")) && stderr.contains("taken by pid"),
            "the loser names the port and its holder: {stderr}"
        );
        let holder = status(&home, winner)["pid"].as_u64().expect("winner runs");
        assert!(
            stderr.contains(&format!("pid {holder}")),
            "the holder is the winner's QEMU (pid {holder}): {stderr}"
        );
        let lost_status = status(&home, loser);
        assert!(
            matches!(lost_status["status"].as_str(), Some("created" | "stopped")),
            "round {round}: the loser keeps its state, never `failed`: {lost_status}"
        );
        let out = maqet(&home, &["stop", winner, "--force"]);
        assert!(out.status.success(), "{}", describe(&["stop"], &out));
    }
}

#[test]
fn a_start_whose_runner_died_reports_the_readopted_vm_as_started() {
    for step in ["after-spawn", "before-ready"] {
        let home = MaqetHome::new();
        add(
            &home,
            "vm1",
            &no_os_config("vm1", "storage:\n  - {name: hdd, type: qcow2, size: 16M}\n"),
        );
        let out = home
            .cmd()
            .current_dir(home.path())
            .env("MAQET_TEST_CRASH_AT", step)
            .args(["start", "vm1", "--format", "json"])
            .timeout(maqet_tests::cli::COMMAND_GUARD)
            .output()
            .expect("maqet runs");
        assert!(
            out.status.success(),
            "{step}: {}",
            describe(&["start"], &out)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        assert_eq!(report["status"], "running", "{step}: {report}");
        assert_eq!(report["supervisor_restarted"], true, "{step}: {report}");
        let now = status(&home, "vm1");
        assert_eq!(now["status"], "running", "{step}: {now}");
        assert_eq!(now["pid"], report["pid"], "{step}: the same QEMU: {now}");
        let runner = now["runner_pid"].as_u64().unwrap_or(0) as u32;
        assert!(
            maqet_tests::cli::is_alive(runner),
            "{step}: a live runner: {now}"
        );
        let answer = maqet_json(&home, &["qmp", "vm1", "query-status"]);
        assert_eq!(answer["running"], true, "{step}: {answer}");

        // The human line says so too.
        let out = maqet(&home, &["stop", "vm1", "--force"]);
        assert!(out.status.success(), "{}", describe(&["stop"], &out));
        let out = home
            .cmd()
            .current_dir(home.path())
            .env("MAQET_TEST_CRASH_AT", step)
            .args(["start", "vm1"])
            .timeout(maqet_tests::cli::COMMAND_GUARD)
            .output()
            .expect("maqet runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("a new one took over"),
            "{step}: {}",
            describe(&["start"], &out)
        );
        let _ = maqet(&home, &["stop", "vm1", "--force"]);
    }
}

#[test]
fn pause_and_resume_return_once_status_shows_the_new_state() {
    let home = MaqetHome::new();
    add(&home, "vm1", &no_os_config("vm1", ""));
    let out = maqet(&home, &["start", "vm1"]);
    assert!(out.status.success(), "{}", describe(&["start"], &out));
    for round in 0..20 {
        let (pause, resume): (&[&str], &[&str]) = if round % 2 == 0 {
            (&["qmp", "pause", "vm1"], &["qmp", "resume", "vm1"])
        } else {
            (&["qmp", "vm1", "stop"], &["qmp", "vm1", "cont"])
        };
        let out = maqet(&home, pause);
        assert!(out.status.success(), "{}", describe(pause, &out));
        let now = status(&home, "vm1");
        assert_eq!(
            now["status"], "paused",
            "round {round}, right after {pause:?}: {now}"
        );
        let out = maqet(&home, resume);
        assert!(out.status.success(), "{}", describe(resume, &out));
        let now = status(&home, "vm1");
        assert_eq!(
            now["status"], "running",
            "round {round}, right after {resume:?}: {now}"
        );
    }

    // The Rust API reads its own writes too.
    let api = Maqet::builder()
        .data_dir(home.data_dir())
        .config_dir(home.config_dir())
        .runtime_dir(home.runtime_dir())
        .runner_path(maqet_runner_binary())
        .build()
        .unwrap();
    for round in 0..20 {
        api.qmp_stop("vm1").send().unwrap();
        let now = api.status("vm1").send().unwrap();
        assert_eq!(now.status, VmStatus::Paused, "round {round}: {now:?}");
        api.qmp_cont("vm1").send().unwrap();
        let now = api.status("vm1").send().unwrap();
        assert_eq!(now.status, VmStatus::Running, "round {round}: {now:?}");
    }
    let out = maqet(&home, &["stop", "vm1", "--force"]);
    assert!(out.status.success(), "{}", describe(&["stop"], &out));
}

#[test]
fn snapshot_create_right_after_add_creates_the_image_as_start_would() {
    let home = MaqetHome::new();
    add(
        &home,
        "vm1",
        &no_os_config("vm1", "storage:\n  - {name: hdd, type: qcow2, size: 16M}\n"),
    );
    let image = vm_data_dir(&home, "vm1").join("hdd.qcow2");
    // Listing or loading needs no image: nothing is created for them.
    let listed = maqet_json(&home, &["snapshot", "vm1", "list", "hdd"]);
    assert_eq!(listed, serde_json::json!([]), "{listed}");
    let stderr = fails_with(&home, &["snapshot", "vm1", "load", "hdd", "base-state"], 3);
    assert!(stderr.contains("base-state"), "{stderr}");
    assert!(
        !image.exists(),
        "list and a failed load must not create {}",
        image.display()
    );

    let made = maqet_json(&home, &["snapshot", "vm1", "create", "hdd", "base-state"]);
    assert_eq!(made["status"], "success", "{made}");
    assert!(image.is_file(), "{} was not created", image.display());
    let listed = maqet_json(&home, &["snapshot", "vm1", "list", "hdd"]);
    assert_eq!(listed[0]["name"], "base-state", "{listed}");
    // Recorded as maqet's own, like an image `start` creates.
    let files = maqet_json(&home, &["storage-info", "vm1"]);
    assert_eq!(files["drives"][0]["created_by_maqet"], true, "{files}");

    // `start` uses the image as it is (no second creation), and the snapshot loads afterwards.
    let started = maqet_json(&home, &["start", "vm1"]);
    assert_eq!(started["created_files"], serde_json::json!([]), "{started}");
    let out = maqet(&home, &["stop", "vm1", "--force"]);
    assert!(out.status.success(), "{}", describe(&["stop"], &out));
    let loaded = maqet_json(&home, &["snapshot", "vm1", "load", "hdd", "base-state"]);
    assert_eq!(loaded["operation"], "load", "{loaded}");
}

/// Adds the test guest as `name` with kernel command line `append` and config `extra`, starts
/// it and waits for its banner.
fn boot_guest(home: &MaqetHome, name: &str, append: &str, extra: &str) {
    add(
        home,
        name,
        &guest_config_yaml_with_append(name, append, extra),
    );
    maqet_json(home, &["start", name]);
    maqet_json(
        home,
        &["wait", name, "--serial", READY_BANNER, "--timeout", "120"],
    );
}

fn timed_stop(home: &MaqetHome, args: &[&str]) -> (Value, Duration) {
    let asked = Instant::now();
    let stopped = maqet_json(home, args);
    let took = asked.elapsed();
    eprintln!("maqet {args:?}: {took:?}, {stopped}");
    (stopped, took)
}

#[test]
fn stop_presses_the_power_button_again_when_the_first_press_is_lost() {
    let home = MaqetHome::new();
    let append = format!("{GUEST_KERNEL_APPEND} {ACPI_IGNORE_FIRST_PARAM}");
    boot_guest(&home, "vm1", &append, "");
    let (stopped, took) = timed_stop(&home, &["stop", "vm1"]);
    assert_eq!(stopped["method"], "acpi", "{stopped}");
    assert_eq!(stopped["forced"], false, "{stopped}");
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(20),
        "the second press comes about 5 s after the first; the stop took {took:?}"
    );
    assert_eq!(status(&home, "vm1")["status"], "stopped");

    // The human line says how it stopped.
    boot_guest(&home, "vm2", GUEST_KERNEL_APPEND, "");
    let out = maqet(&home, &["stop", "vm2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("(ACPI") && !stdout.contains("forced"),
        "{}",
        describe(&["stop", "vm2"], &out)
    );
}

#[test]
fn stop_of_a_guest_ignoring_acpi_goes_through_its_agent_without_force() {
    let home = MaqetHome::new();
    let append = format!("{GUEST_KERNEL_APPEND} {IGNORE_ACPI_PARAM}");
    boot_guest(&home, "vm1", &append, "guest_agent: true\n");
    let (stopped, took) = timed_stop(&home, &["stop", "vm1"]);
    assert_eq!(stopped["method"], "agent", "{stopped}");
    assert_eq!(stopped["forced"], false, "{stopped}");
    assert!(
        took < Duration::from_secs(25),
        "well within --timeout: {took:?}"
    );
    assert_eq!(status(&home, "vm1")["status"], "stopped");

    // Without an agent the same guest has to be forced down, and the result says so.
    boot_guest(&home, "vm2", &append, "");
    let (stopped, _) = timed_stop(&home, &["stop", "vm2", "--timeout", "2"]);
    assert_eq!(stopped["method"], "quit", "{stopped}");
    assert_eq!(stopped["forced"], true, "{stopped}");
    let out = maqet(&home, &["start", "vm2"]);
    assert!(out.status.success(), "{}", describe(&["start"], &out));
    let out = maqet(&home, &["stop", "vm2", "--force"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("forced"),
        "{}",
        describe(&["stop", "--force"], &out)
    );
}
