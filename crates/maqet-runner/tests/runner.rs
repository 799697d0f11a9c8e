//! The runner against real QEMU (TCG, no OS): start, multiplexing, events, failures, stop,
//! crash detection, re-adoption and the identity and peer checks.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use maqet_runner::process::{identity_of, is_alive};
use maqet_runner::{AdoptSpec, ErrorKind, StopMethod, StopOptions};
use maqet_state::{ProcessIdentity, VmStatus};
use serde_json::json;
use support::{RawClient, TestVm, chain, gone, runner_exe, stop, wait_for};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn force_stop(vm: &TestVm, started: &maqet_runner::Started) -> maqet_runner::StopOutcome {
    let opts = StopOptions {
        force: true,
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    stop(
        &started.qmp_socket,
        &started.qemu,
        Some(&started.runner),
        &opts,
        &mut |_| {},
    )
    .unwrap_or_else(|err| panic!("stop of {} failed: {}", vm.name, chain(&err)))
}

#[test]
fn started_vm_is_private_recorded_and_serves_two_clients_with_events() {
    let vm = TestVm::new("two-clients");
    let started = vm.start();
    assert!(is_alive(&started.qemu) && is_alive(&started.runner));
    assert_ne!(started.qemu.pid, started.runner.pid);

    let record = vm.record();
    assert_eq!(record.status, VmStatus::Running);
    assert_eq!(record.qemu, Some(started.qemu));
    assert_eq!(record.runner, Some(started.runner));
    assert_eq!(
        record.qmp_socket.as_deref(),
        Some(vm.paths.qmp_socket().as_path())
    );
    assert_eq!(
        record.runtime_dir.as_deref(),
        Some(vm.paths.runtime_dir.as_path())
    );
    assert_eq!(mode(&vm.paths.runtime_dir), 0o700);
    assert_eq!(mode(&vm.paths.qmp_socket()), 0o600);

    let mut a = RawClient::connect(&started.qmp_socket);
    let mut b = RawClient::connect(&started.qmp_socket);
    for client in [&a, &b] {
        assert_eq!(
            client.greeting["QMP"]["version"]["qemu"]["major"], 7,
            "{}",
            client.greeting
        );
    }
    // Commands before negotiation are refused, as QEMU does.
    a.send(r#"{"execute": "query-status", "id": "early"}"#);
    assert_eq!(a.read()["error"]["class"], "CommandNotFound");
    for client in [&mut a, &mut b] {
        client.send(r#"{"execute": "qmp_capabilities"}"#);
        assert_eq!(client.read(), json!({"return": {}}));
    }
    a.send(r#"{"execute": "query-status", "id": "a-1"}"#);
    b.send(r#"{"execute": "query-status", "id": {"b": 2}}"#);
    let reply_a = a.read_until(|m| m.get("return").is_some());
    let reply_b = b.read_until(|m| m.get("return").is_some());
    assert_eq!(reply_a["id"], "a-1");
    assert_eq!(reply_b["id"], json!({"b": 2}));
    assert_eq!(reply_a["return"]["status"], "running");
    // No id in, no id out; QEMU's errors pass through with the client's id.
    b.send(r#"{"execute": "query-status"}"#);
    let bare = b.read_until(|m| m.get("return").is_some());
    assert!(bare.get("id").is_none(), "{bare}");
    a.send(r#"{"execute": "no-such-command", "id": 7}"#);
    let error = a.read_until(|m| m.get("error").is_some());
    assert_eq!(error["id"], 7);
    assert_eq!(error["error"]["class"], "CommandNotFound");

    a.send(r#"{"execute": "stop", "id": "pause"}"#);
    for client in [&mut a, &mut b] {
        let event = client.read_until(|m| m.get("event").is_some());
        assert_eq!(event["event"], "STOP");
    }
    let paused = vm.wait_record(|r| r.status == VmStatus::Paused);
    assert_eq!(paused.status, VmStatus::Paused);
    b.send(r#"{"execute": "cont"}"#);
    for client in [&mut a, &mut b] {
        client.read_until(|m| m["event"] == "RESUME");
    }
    let resumed = vm.wait_record(|r| r.status == VmStatus::Running);
    assert_eq!(resumed.status, VmStatus::Running);

    let events = std::fs::read_to_string(vm.paths.events_log()).unwrap();
    let names: Vec<String> = events
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        names.contains(&"STOP".into()) && names.contains(&"RESUME".into()),
        "{names:?}"
    );

    let outcome = force_stop(&vm, &started);
    assert_eq!(outcome.method, StopMethod::Quit);
    assert!(gone(&started.qemu) && gone(&started.runner));
    let stopped = vm.record();
    assert_eq!(
        (stopped.status, stopped.status_reason.as_deref()),
        (VmStatus::Stopped, Some("host stop"))
    );
    assert_eq!(stopped.qemu, None);
    assert!(!vm.paths.qmp_socket().exists());
}

#[test]
fn qemu_refusing_its_options_fails_fast_with_qemu_message() {
    let vm = TestVm::new("bad-memory");
    let spec = vm.spec(&["-m", "banana"]);
    let begun = Instant::now();
    let err = maqet_runner::start(&runner_exe(), &spec, Duration::from_secs(30))
        .expect_err("-m banana must fail");
    println!("start with -m banana failed after {:?}", begun.elapsed());
    let text = chain(&err);
    println!("{text}");
    assert_eq!(err.kind(), ErrorKind::QemuRefused, "{text}");
    assert!(
        !err.to_string().contains("banana"),
        "QEMU's text belongs in the source: {err}"
    );
    let source = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        source.contains("banana"),
        "source should carry QEMU's message: {source}"
    );

    let record = vm.record();
    assert_eq!(record.status, VmStatus::Failed);
    assert_eq!(record.qemu, None);
    // No runner for this VM is left behind.
    assert!(
        wait_for(Duration::from_secs(5), || runners_for(&vm.id).is_empty()),
        "{:?}",
        runners_for(&vm.id)
    );
}

/// Live runner processes labelled with this VM id.
fn runners_for(vm_id: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            maqet_runner::process::cmdline(*pid).is_some_and(|args| {
                args.first().is_some_and(|a| a.ends_with("maqet-runner"))
                    && args.iter().any(|a| a == vm_id)
            }) && identity_of(*pid).is_some()
        })
        .collect()
}

#[test]
fn stop_escalates_when_the_guest_ignores_the_power_button() {
    let vm = TestVm::new("escalate");
    let started = vm.start();
    let opts = StopOptions {
        force: false,
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let mut messages = Vec::new();
    let outcome = stop(
        &started.qmp_socket,
        &started.qemu,
        Some(&started.runner),
        &opts,
        &mut |m| messages.push(m.to_owned()),
    )
    .unwrap_or_else(|err| panic!("{}", chain(&err)));
    println!("stopped by {} after {:?}", outcome.method, outcome.elapsed);
    assert!(
        matches!(
            outcome.method,
            StopMethod::Quit | StopMethod::Terminate | StopMethod::Kill
        ),
        "{:?}",
        outcome.method
    );
    assert!(
        messages.iter().any(|m| m.contains("power off")),
        "{messages:?}"
    );
    assert!(gone(&started.qemu));
    let record = vm.wait_record(|r| r.status == VmStatus::Stopped);
    let reason = record.status_reason.clone().unwrap_or_default();
    assert_eq!(record.status, VmStatus::Stopped);
    assert!(reason.starts_with("host stop"), "{reason}");
}

#[test]
fn killed_qemu_is_recorded_and_the_runner_cleans_up() {
    let vm = TestVm::new("kill-qemu");
    let started = vm.start();
    let _ =
        maqet_runner::process::send_signal(&started.qemu, maqet_runner::process::StopSignal::Kill);
    assert!(
        wait_for(Duration::from_secs(5), || gone(&started.runner)),
        "runner should exit"
    );
    let record = vm.record();
    // Nobody in maqet sent that SIGKILL: it is a crash, with the signal.
    assert_eq!(record.status, VmStatus::Crashed);
    let reason = record.status_reason.clone().unwrap_or_default();
    assert!(reason.contains("signal 9 (SIGKILL)"), "{reason}");
    assert_eq!((record.qemu, record.runner), (None, None));
    let log = std::fs::read_to_string(vm.paths.runner_log()).unwrap();
    println!("{log}");
    assert!(log.contains("QEMU exited (killed by signal 9)"), "{log}");
    for file in [
        vm.paths.qmp_socket(),
        vm.paths.qemu_qmp_socket(),
        vm.paths.console_socket(),
    ] {
        assert!(!file.exists(), "{} left behind", file.display());
    }
}

#[test]
fn qemu_survives_a_killed_runner_and_is_re_adopted() {
    let vm = TestVm::new("adopt");
    let started = vm.start();
    let _ = maqet_runner::process::send_signal(
        &started.runner,
        maqet_runner::process::StopSignal::Kill,
    );
    assert!(wait_for(Duration::from_secs(5), || gone(&started.runner)));
    std::thread::sleep(Duration::from_millis(300));
    assert!(is_alive(&started.qemu), "QEMU must outlive its runner");

    let spec = AdoptSpec {
        vm_id: vm.id.clone(),
        vm_name: vm.name.clone(),
        db_path: vm.db_path.clone(),
        paths: vm.paths.clone(),
        qemu: started.qemu,
    };
    let adopted = maqet_runner::adopt(&runner_exe(), &spec, Duration::from_secs(20))
        .unwrap_or_else(|err| panic!("adopt failed: {}", chain(&err)));
    vm.guard(&adopted);
    assert_eq!(adopted.qemu, started.qemu);
    assert_ne!(adopted.runner, started.runner);

    let mut client = RawClient::negotiated(&adopted.qmp_socket);
    client.send(r#"{"execute": "query-status", "id": 1}"#);
    let reply = client.read_until(|m| m.get("return").is_some());
    assert_eq!(reply["return"]["status"], "running");
    let record = vm.record();
    assert_eq!(record.status, VmStatus::Running);
    assert_eq!(record.runner, Some(adopted.runner));
    let events = std::fs::read_to_string(vm.paths.events_log()).unwrap();
    assert!(events.contains("\"MAQET_READOPTED\""), "{events}");
    drop(client);

    let outcome = force_stop(&vm, &adopted);
    assert_eq!(outcome.method, StopMethod::Quit);
    let record = vm.wait_record(|r| r.status == VmStatus::Stopped);
    assert_eq!(record.status_reason.as_deref(), Some("host stop"));
}

#[test]
fn adopt_refuses_a_process_that_is_not_the_vms_qemu() {
    let vm = TestVm::new("foreign");
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let spec = AdoptSpec {
        vm_id: vm.id.clone(),
        vm_name: vm.name.clone(),
        db_path: vm.db_path.clone(),
        paths: vm.paths.clone(),
        qemu: identity_of(sleeper.id()).unwrap(),
    };
    let err = maqet_runner::adopt(&runner_exe(), &spec, Duration::from_secs(10))
        .expect_err("must refuse");
    assert!(
        matches!(err, maqet_runner::RunnerError::NotAdoptable { .. }),
        "{}",
        chain(&err)
    );
    assert!(
        sleeper.try_wait().unwrap().is_none(),
        "the foreign process must be untouched"
    );
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn stop_never_signals_a_pid_whose_start_time_differs() {
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let real = identity_of(sleeper.id()).unwrap();
    let recorded = ProcessIdentity {
        start_time: real.start_time + 100,
        ..real
    };
    let tmp = tempfile::tempdir().unwrap();
    let opts = StopOptions {
        force: true,
        timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let outcome = stop(
        &tmp.path().join("qmp.sock"),
        &recorded,
        None,
        &opts,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(outcome.method, StopMethod::AlreadyStopped);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        sleeper.try_wait().unwrap().is_none(),
        "the unrelated process must still run"
    );
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn a_peer_with_another_uid_is_refused() {
    if !rustix::process::geteuid().is_root() {
        panic!("connecting as another uid needs root; run the tests as root, as CI does");
    }
    if !std::path::Path::new("/usr/bin/setpriv").exists()
        || !std::path::Path::new("/usr/bin/python3").exists()
    {
        panic!("setpriv or /usr/bin/python3 missing (scripts/setup.sh installs them)");
    }
    let vm = TestVm::new("peer-uid");
    let started = vm.start();
    // Open the path for the test only, so that the runner's own check is what refuses.
    let mut dir = vm.paths.runtime_dir.clone();
    while dir.starts_with(vm.tmp.path()) {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
        dir.pop();
    }
    std::fs::set_permissions(&started.qmp_socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\nprint(s.makefile().readline().strip())\nprint(s.recv(100) == b'')";
    let output = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            script,
        ])
        .arg(&started.qmp_socket)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut lines = stdout.lines();
    let first: serde_json::Value = serde_json::from_str(lines.next().unwrap_or("")).unwrap();
    assert_eq!(first["error"]["class"], "GenericError");
    assert!(
        first["error"]["desc"]
            .as_str()
            .unwrap()
            .starts_with("permission denied"),
        "{first}"
    );
    assert_eq!(lines.next(), Some("True"), "the connection must be closed");
    // The owner still gets in.
    let client = RawClient::connect(&started.qmp_socket);
    assert!(client.greeting.get("QMP").is_some());
    drop(client);
    force_stop(&vm, &started);
}

#[test]
fn sigterm_to_the_runner_leaves_qemu_running_and_stop_still_works_without_it() {
    let vm = TestVm::new("runner-term");
    let started = vm.start();
    let _ = maqet_runner::process::send_signal(
        &started.runner,
        maqet_runner::process::StopSignal::Terminate,
    );
    assert!(
        wait_for(Duration::from_secs(5), || gone(&started.runner)),
        "runner should exit on SIGTERM"
    );
    assert!(
        is_alive(&started.qemu),
        "QEMU must survive its runner's SIGTERM"
    );
    assert!(
        !started.qmp_socket.exists(),
        "the runner removes its socket when it leaves"
    );

    // With no runner, stop talks to QEMU's own QMP socket.
    let outcome = force_stop(&vm, &started);
    assert_eq!(outcome.method, StopMethod::Quit);
    assert!(gone(&started.qemu));
}
