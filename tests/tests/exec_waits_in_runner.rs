//! Issue Q §1 through real QEMU (TCG) and the test guest: `exec` is one "exec and wait" request
//! to the VM's runner, which polls the agent itself. A command's exit code, stdout and stderr
//! arrive intact through that request (on the runner's socket and through the CLI), and a
//! command that never ends gives the documented timeout (exit 2) and is killed in the guest.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use maqet_tests::MaqetHome;
use maqet_tests::cli::{describe, fails_with, maqet, maqet_ok, start_agent_guest, vm_id};
use serde_json::{Value, json};

/// The runner's own request on `agent.sock` (`maqet_runner::agent_client::EXEC_AND_WAIT`).
const EXEC_AND_WAIT: &str = "maqet-exec-and-wait";

/// The runner's agent socket of VM `name`.
fn agent_socket(home: &MaqetHome, name: &str) -> PathBuf {
    home.runtime_dir()
        .join("vms")
        .join(vm_id(home, name))
        .join("agent.sock")
}

/// One request line on the runner's agent socket, and its one reply line.
fn exec_and_wait(socket: &PathBuf, arguments: Value, timeout_ms: u64) -> Value {
    let mut stream = UnixStream::connect(socket).expect("the runner serves agent.sock");
    stream
        .set_read_timeout(Some(
            Duration::from_millis(timeout_ms) + Duration::from_secs(30),
        ))
        .unwrap();
    let request =
        json!({"execute": EXEC_AND_WAIT, "arguments": arguments, "timeout_ms": timeout_ms});
    writeln!(stream, "{request}").unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn exec_waits_in_the_runner_and_passes_code_output_and_timeouts_through() {
    let home = MaqetHome::new();
    start_agent_guest(&home, "ew");
    let socket = agent_socket(&home, "ew");

    // The request itself: one reply, the finished status with its pid.
    let reply = exec_and_wait(
        &socket,
        json!({"path": "sh", "arg": ["-c", "echo out; echo err >&2; exit 7"], "capture-output": true}),
        60_000,
    );
    let status = &reply["return"];
    assert_eq!(status["exited"], true, "{reply}");
    assert_eq!(status["exitcode"], 7, "{reply}");
    assert!(status["pid"].as_i64().is_some_and(|p| p > 0), "{reply}");
    // base64 of "out\n" and "err\n", as qemu-ga sends them.
    assert_eq!(status["out-data"], "b3V0Cg==", "{reply}");
    assert_eq!(status["err-data"], "ZXJyCg==", "{reply}");

    // A program the guest cannot start: the agent's refusal names `guest-exec`.
    let reply = exec_and_wait(
        &socket,
        json!({"path": "/no/such/program", "capture-output": true}),
        60_000,
    );
    assert_eq!(reply["error"]["command"], "guest-exec", "{reply}");

    // A command still running at the deadline: not exited, with the pid to kill.
    let started = Instant::now();
    let reply = exec_and_wait(
        &socket,
        json!({"path": "sleep", "arg": ["40"], "capture-output": true}),
        1_500,
    );
    assert!(started.elapsed() < Duration::from_secs(20), "{reply}");
    assert_eq!(reply["return"]["exited"], false, "{reply}");
    let pid = reply["return"]["pid"]
        .as_i64()
        .expect("the pid of the running command");
    maqet_ok(
        &home,
        &["exec", "ew", "--", "kill", "-KILL", &pid.to_string()],
    );

    // Through the CLI: the exit code, stdout and stderr byte for byte.
    let args = [
        "exec",
        "ew",
        "--",
        "sh",
        "-c",
        "printf 'a\\nb'; printf 'e\\n' >&2; exit 5",
    ];
    let out = maqet(&home, &args);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&args, &out));
    assert_eq!(out.stdout, b"a\nb", "{}", describe(&args, &out));
    assert_eq!(out.stderr, b"e\n", "{}", describe(&args, &out));
    let out = maqet(&home, &["exec", "ew", "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.status.code(), Some(128 + 9));

    // A command that never ends: exit 2 after --timeout, and it is killed in the guest.
    let err = fails_with(
        &home,
        &[
            "exec",
            "ew",
            "--timeout",
            "2",
            "--",
            "sh",
            "-c",
            "while :; do sleep 1; done",
        ],
        2,
    );
    assert!(err.contains("did not finish within 2.0 s"), "{err}");
    let out = maqet_ok(
        &home,
        &[
            "exec",
            "ew",
            "--",
            "sh",
            "-c",
            "ps | grep -c '[w]hile :' || true",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "the timed-out command still runs"
    );

    maqet_ok(&home, &["stop", "ew", "--force"]);
    // A stopped VM keeps its message (the runner's socket is gone: the status checks speak).
    let err = fails_with(&home, &["exec", "ew", "--", "true"], 3);
    assert!(err.contains("not running"), "{err}");
}
