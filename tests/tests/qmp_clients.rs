//! A VM's `qmp.sock` used by clients that are not maqet (issue G): QEMU's own Python library
//! `qemu.qmp` and its `qmp-shell`, socat, raw bytes split anywhere, and a differential test
//! that runs the same scripted sessions against a bare QEMU's own QMP socket. Also the
//! raw-QMP gate (issue L item 4) as a socket client meets it.
//!
//! Needs the venv that `scripts/setup.sh` creates (`$HOME/.cache/maqet/qmp-venv`, or
//! `MAQET_QMP_VENV`) with `qemu.qmp` from PyPI; without it these tests fail.
//! Build the binaries first: `cargo build --workspace`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use maqet_tests::cli::{describe, fails_with, maqet, maqet_json, no_os_config};
use maqet_tests::{MaqetHome, QemuProcessGuard};
use serde_json::{Value, json};

const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The venv with `qemu.qmp` (`scripts/setup.sh` makes it).
fn venv() -> PathBuf {
    let dir = std::env::var_os("MAQET_QMP_VENV").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/maqet/qmp-venv")
        },
        PathBuf::from,
    );
    assert!(
        dir.join("bin/qmp-shell").exists(),
        "no qemu.qmp venv at {}; run scripts/setup.sh (it runs `pip install qemu.qmp` there)",
        dir.display()
    );
    dir
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

fn run_python(args: &[&str]) -> Value {
    let python = venv().join("bin/python3");
    let out = Command::new(&python).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}{}",
        python.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Starts a VM without an OS and returns its `qmp.sock` as `status --format json` shows it.
fn start_bare(home: &MaqetHome, name: &str) -> PathBuf {
    let config = home.write_config(name, &no_os_config(name, ""));
    let args = ["add", config.to_str().unwrap()];
    let out = maqet(home, &args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    maqet_json(home, &["start", name]);
    let status = maqet_json(home, &["status", name]);
    let path = status["qmp_socket"]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("no qmp_socket in {status}"));
    PathBuf::from(path)
}

/// A raw byte-level QMP connection that reads replies by JSON structure.
struct Raw {
    stream: UnixStream,
    buffer: Vec<u8>,
}

impl Raw {
    fn connect(socket: &Path) -> Raw {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        Raw {
            stream,
            buffer: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next JSON value from the server (QEMU and maqet end each with "\r\n").
    fn read(&mut self) -> Value {
        loop {
            let mut values =
                serde_json::Deserializer::from_slice(&self.buffer).into_iter::<Value>();
            if let Some(Ok(value)) = values.next() {
                let used = values.byte_offset();
                self.buffer.drain(..used);
                return value;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("a QMP answer in time");
            assert!(n > 0, "the QMP server closed the connection");
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next message that is not an event.
    fn reply(&mut self) -> Value {
        loop {
            let message = self.read();
            if message.get("event").is_none() {
                return message;
            }
        }
    }

    /// Reads the greeting and negotiates, optionally enabling capabilities.
    fn negotiated(socket: &Path, enable: &[&str]) -> (Raw, Value) {
        let mut raw = Raw::connect(socket);
        let greeting = raw.read();
        let cmd = if enable.is_empty() {
            json!({"execute": "qmp_capabilities"})
        } else {
            json!({"execute": "qmp_capabilities", "arguments": {"enable": enable}})
        };
        raw.send(cmd.to_string().as_bytes());
        let reply = raw.reply();
        assert_eq!(reply, json!({"return": {}}), "negotiation");
        (raw, greeting)
    }

    fn execute(&mut self, command: Value) -> Value {
        self.send(command.to_string().as_bytes());
        self.reply()
    }
}

#[test]
fn the_qemu_qmp_library_connects_executes_and_receives_events() {
    let home = MaqetHome::new();
    let socket = start_bare(&home, "vm1");
    let got = run_python(&[
        script("qmp_session.py").to_str().unwrap(),
        socket.to_str().unwrap(),
    ]);
    assert_eq!(got["unknown"], "CommandNotFound", "{got}");
    assert_eq!(got["events"], json!(["STOP", "RESUME"]), "{got}");
    assert_eq!(got["gated"]["class"], "GenericError", "{got}");
}

#[test]
fn eight_concurrent_qemu_qmp_clients_get_all_800_answers() {
    let home = MaqetHome::new();
    let socket = start_bare(&home, "vm1");
    let got = run_python(&[
        script("qmp_concurrent.py").to_str().unwrap(),
        socket.to_str().unwrap(),
        "8",
        "100",
    ]);
    assert_eq!(got["answered"], 800, "{got}");
}

#[test]
fn qmp_shell_runs_commands_from_stdin() {
    let home = MaqetHome::new();
    let socket = start_bare(&home, "vm1");
    let shell = venv().join("bin/qmp-shell");
    let mut child = Command::new(&shell)
        .arg(&socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"query-status\nno-such-command\n")
        .unwrap();
    let out: Output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"status\": \"running\""),
        "qmp-shell output:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CommandNotFound"), "{stdout}");
}

#[test]
fn socat_with_two_commands_and_no_newline_is_answered_twice() {
    let home = MaqetHome::new();
    let socket = start_bare(&home, "vm1");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(printf '{{\"execute\":\"qmp_capabilities\"}}{{\"execute\":\"query-status\",\"id\":7}}'; sleep 2) | socat - UNIX-CONNECT:{}",
            socket.display()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let replies: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(replies.len(), 3, "greeting and two answers:\n{stdout}");
    assert_eq!(replies[1], json!({"return": {}}), "{stdout}");
    assert_eq!(replies[2]["id"], 7, "{stdout}");
    assert_eq!(replies[2]["return"]["status"], "running", "{stdout}");
}

#[test]
fn a_client_that_writes_before_the_greeting_is_answered_in_order() {
    let home = MaqetHome::new();
    let socket = start_bare(&home, "vm1");
    // Connected as soon as `start` returned; everything written before a byte is read. The
    // gate's verdict needs QEMU's command list, which the runner fetches after ready.
    let mut raw = Raw::connect(&socket);
    raw.send(
        concat!(
            r#"{"execute":"qmp_capabilities"}"#,
            "\n",
            r#"{"execute":"query-status","id":1}"#,
            "\n",
            r#"{"execute":"human-monitor-command","arguments":{"command-line":"info version"},"id":2}"#,
            "\n",
            r#"{"execute":"no-such-command","id":3}"#,
            "\n",
        )
        .as_bytes(),
    );
    let greeting = raw.read();
    assert!(greeting.get("QMP").is_some(), "{greeting}");
    assert_eq!(raw.reply(), json!({"return": {}}), "negotiation");
    let status = raw.reply();
    assert_eq!(status["id"], 1, "{status}");
    assert_eq!(status["return"]["status"], "running", "{status}");
    let hmp = raw.reply();
    assert_eq!(hmp["id"], 2, "{hmp}");
    let desc = hmp["error"]["desc"].as_str().unwrap_or_default();
    assert!(desc.contains("--allow-dangerous"), "{hmp}");
    let unknown = raw.reply();
    assert_eq!(unknown["id"], 3, "{unknown}");
    assert_eq!(unknown["error"]["class"], "CommandNotFound", "{unknown}");
}

#[test]
fn a_command_split_at_every_byte_boundary_is_answered() {
    let home = MaqetHome::new();
    let socket = start_bare(&home, "vm1");
    let (mut raw, _) = Raw::negotiated(&socket, &[]);
    let template = r#"{ "execute" : "query-status", "arguments": {}, "id": ["cut", N] }"#;
    let len = template.len();
    for cut in 0..=len {
        let message = template.replace('N', &cut.to_string());
        let bytes = message.as_bytes();
        let cut = cut.min(bytes.len());
        raw.send(&bytes[..cut]);
        // Give the runner a chance to read the first part on its own.
        thread::sleep(Duration::from_millis(2));
        raw.send(&bytes[cut..]);
        let reply = raw.reply();
        assert_eq!(reply["id"], json!(["cut", cut]), "cut at {cut}: {reply}");
        assert_eq!(reply["return"]["status"], "running", "{reply}");
    }
    // One byte per write, CR/LF between tokens.
    for &b in b"{\r\n\"execute\"\r\n:\"query-status\",\n\"id\":\"bytes\"}".iter() {
        raw.send(&[b]);
    }
    assert_eq!(raw.reply()["id"], "bytes");
}

#[test]
fn a_client_sending_nonsense_forever_does_not_starve_the_others() {
    let home = MaqetHome::new();
    let socket = start_bare(&home, "vm1");
    let (mut noisy, _) = Raw::negotiated(&socket, &[]);
    noisy
        .stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_noise = stop.clone();
    // It never reads its error replies: the runner must stop reading it, not stall the rest.
    let noise = thread::spawn(move || {
        let junk = b"[] nonsense {\"a\" 1} ".repeat(1000);
        let mut sent = 0usize;
        while !stop_noise.load(std::sync::atomic::Ordering::Relaxed) {
            match noisy.stream.write(&junk) {
                Ok(n) => sent += n,
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        }
        sent
    });
    let (mut quiet, _) = Raw::negotiated(&socket, &[]);
    for i in 0..50 {
        let reply = quiet.execute(json!({"execute": "query-status", "id": i}));
        assert_eq!(reply["id"], i, "{reply}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = noise.join().unwrap();
    assert!(sent > 0);
}

#[test]
fn the_gate_refuses_dangerous_commands_and_bad_paths_on_the_socket() {
    let home = MaqetHome::new();
    let socket = start_bare(&home, "vm1");
    let (mut raw, greeting) = Raw::negotiated(&socket, &[]);
    assert_eq!(greeting["QMP"]["capabilities"], json!([]), "{greeting}");

    let hmp = json!({"execute": "human-monitor-command",
        "arguments": {"command-line": "info version"}, "id": "hmp"});
    let reply = raw.execute(hmp.clone());
    assert_eq!(reply["id"], "hmp");
    assert_eq!(reply["error"]["class"], "GenericError", "{reply}");
    let desc = reply["error"]["desc"].as_str().unwrap();
    assert!(
        desc.contains("maqet qmp VM human-monitor-command --allow-dangerous"),
        "{desc}"
    );
    assert!(desc.contains("x-maqet-allow-dangerous"), "{desc}");

    let reply = raw.execute(json!({"execute": "quit", "id": 1}));
    assert_eq!(reply["error"]["class"], "GenericError", "{reply}");

    // screendump: into a system directory, through a symlink, or relative: refused.
    let link = home.path().join("etc-link");
    std::os::unix::fs::symlink("/etc", &link).unwrap();
    for (file, why) in [
        (
            "/etc/maqet-gate-test.ppm".to_owned(),
            "system directory /etc",
        ),
        (
            format!("{}/maqet-gate-test.ppm", link.display()),
            "resolves to '/etc/maqet-gate-test.ppm'",
        ),
        ("shot.ppm".to_owned(), "relative"),
    ] {
        let reply = raw.execute(json!({"execute": "screendump", "arguments": {"filename": file}}));
        let desc = reply["error"]["desc"].as_str().unwrap_or_default();
        assert!(desc.contains(why), "{file}: {reply}");
    }
    assert!(!Path::new("/etc/maqet-gate-test.ppm").exists());
    let reply = raw.execute(
        json!({"execute": "migrate", "arguments": {"uri": "exec:touch /tmp/maqet-gate-exec"}}),
    );
    assert_eq!(reply["error"]["class"], "GenericError", "{reply}");
    assert!(!Path::new("/tmp/maqet-gate-exec").exists());

    // Into the user's own directory: allowed, and QEMU writes it.
    let shot = home.path().join("xdg/shot.ppm");
    let reply = raw.execute(json!({"execute": "screendump", "arguments": {"filename": shot}}));
    assert_eq!(reply, json!({"return": {}}));
    assert!(shot.exists());

    // The owner opts in with maqet's capability.
    let (mut trusted, _) = Raw::negotiated(&socket, &["x-maqet-allow-dangerous"]);
    let reply = trusted.execute(hmp);
    assert!(
        reply["return"].as_str().is_some_and(|v| v.contains('.')),
        "{reply}"
    );
}

#[test]
fn events_go_to_every_negotiated_client_and_to_no_other() {
    let home = MaqetHome::new();
    let socket = start_bare(&home, "vm1");
    let (mut first, _) = Raw::negotiated(&socket, &[]);
    let (mut second, _) = Raw::negotiated(&socket, &[]);
    let mut waiting = Raw::connect(&socket);
    assert!(waiting.read().get("QMP").is_some());

    let out = maqet(&home, &["qmp", "pause", "vm1"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&["qmp", "pause"], &out)
    );
    for client in [&mut first, &mut second] {
        let event = client.read();
        assert_eq!(event["event"], "STOP", "{event}");
        assert!(
            event["timestamp"]["seconds"].as_i64().unwrap_or(0) > 0,
            "{event}"
        );
        assert!(event["timestamp"]["microseconds"].is_i64(), "{event}");
    }
    // The client that had not negotiated got nothing: its first message is the answer.
    waiting.send(br#"{"execute":"qmp_capabilities","id":"late"}"#);
    assert_eq!(waiting.read(), json!({"return": {}, "id": "late"}));
    let out = maqet(&home, &["qmp", "resume", "vm1"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&["qmp", "resume"], &out)
    );
    for client in [&mut first, &mut second, &mut waiting] {
        assert_eq!(client.read()["event"], "RESUME");
    }
}

#[test]
fn the_cli_meets_the_same_gate_as_the_socket() {
    let home = MaqetHome::new();
    start_bare(&home, "vm1");
    let target = "/etc/maqet-cli-gate-test.ppm";
    let args = ["qmp", "vm1", "screendump", "--filename", target];
    let stderr = fails_with(&home, &args, 3);
    assert!(stderr.contains("system directory /etc"), "{stderr}");
    assert!(stderr.contains("--allow-dangerous"), "{stderr}");
    assert!(!Path::new(target).exists());

    let shot = home.path().join("xdg/cli-shot.ppm");
    let shot_arg = shot.to_str().unwrap();
    let args = ["qmp", "vm1", "screendump", "--filename", shot_arg];
    let out = maqet(&home, &args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    assert!(shot.exists());
}

/// One step of a scripted session: bytes to send (a sync command follows each).
const SCRIPT: &[&str] = &[
    r#"{"execute":"query-status","id":1}"#,
    r#"{"execute":"qmp_capabilities","arguments":{"enable":["foo"]},"id":"caps-bad"}"#,
    r#"{"execute":"qmp_capabilities","arguments":{"x":1}}"#,
    r#"{"execute":"qmp_capabilities","arguments":{"enable":"oob"}}"#,
    r#"{"execute":"qmp_capabilities","arguments":{"enable":[1]}}"#,
    "nonsense ",
    r#"{"a" 1}"#,
    "[1]",
    r#"{"id":[1,{"a":null}]}"#,
    r#"{"execute":"qmp_capabilities","arguments":{},"id":{"n":1.5}}"#,
    r#"{"execute":"qmp_capabilities","id":2}"#,
    r#"{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":3}"#,
    r#"{"execute":"query-status","id":"s"}"#,
    r#"{"execute":"no-such-command","id":-0}"#,
    r#"{"execute":"query-kvm","id":null}"#,
    r#"{"execute":"query-status","exec-oob":"x","id":15}"#,
    r#"{"execute":1}"#,
    r#"{"execute":"query-status","arguments":[]}"#,
    r#"{"execute":"device_del","arguments":{"id":"nope"},"id":"dd"}"#,
    r#"{"execute":"query-status","arguments":{"bogus":1},"id":"args"}"#,
    r#""\q" "#,
    "{\"execute\":\"query-status\",\"id\":\"a\u{1}b\"}",
    "{'execute':'query-status','id':'single'}",
    r#"{"execute":"query-status","id":"\u00e9\ud83d\ude00"}"#,
    r#"{"execute":"query-status","id":"\ud800"}"#,
    r#"{"a":1,"a":2} {1:2} } ] @@ "#,
    "{\"execute\":\n\"query-status\",\r\n\"id\":\r\n18446744073709551615}",
    r#"{"execute":"query-status","id":9}{"execute":"query-status","id":10}"#,
];

/// Runs [`SCRIPT`] on `socket`; returns the greeting and every step's replies (events and
/// timestamps left out).
fn run_script(socket: &Path) -> (Value, Vec<Vec<Value>>) {
    let mut raw = Raw::connect(socket);
    let greeting = raw.read();
    let mut steps = Vec::new();
    for (n, step) in SCRIPT.iter().enumerate() {
        raw.send(step.as_bytes());
        let sync = format!("sync-{n}");
        raw.send(
            json!({"execute": "query-status", "id": sync})
                .to_string()
                .as_bytes(),
        );
        let mut replies = Vec::new();
        loop {
            let reply = raw.reply();
            if reply["id"] == sync.as_str() {
                break;
            }
            replies.push(reply);
        }
        steps.push(replies);
    }
    (greeting, steps)
}

#[test]
fn maqet_answers_scripted_sessions_exactly_as_qemu_does() {
    // A bare QEMU with its own QMP socket, like the one the runner talks to.
    let dir = tempfile::tempdir().unwrap();
    let qemu_socket = dir.path().join("qemu.sock");
    let child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-display",
            "none",
            "-nodefaults",
            "-m",
            "64M",
            "-qmp",
        ])
        .arg(format!("unix:{},server=on,wait=off", qemu_socket.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _qemu = QemuProcessGuard::new(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    // The socket file appears at bind, before QEMU listens: wait until a connect is accepted.
    while std::os::unix::net::UnixStream::connect(&qemu_socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "QEMU did not listen on its QMP socket"
        );
        thread::sleep(Duration::from_millis(20));
    }

    let home = MaqetHome::new();
    let maqet_socket = start_bare(&home, "vm1");

    let (qemu_greeting, qemu_steps) = run_script(&qemu_socket);
    let (maqet_greeting, maqet_steps) = run_script(&maqet_socket);
    assert_eq!(
        qemu_greeting["QMP"]["version"], maqet_greeting["QMP"]["version"],
        "the greeting mirrors the VM's QEMU version and package"
    );
    for (n, (want, got)) in qemu_steps.iter().zip(&maqet_steps).enumerate() {
        assert_eq!(
            got, want,
            "step {n} {:?}: maqet's qmp.sock (left) differs from QEMU (right)",
            SCRIPT[n]
        );
    }
    assert_eq!(qemu_steps.len(), maqet_steps.len());
    let replies: usize = qemu_steps.iter().map(Vec::len).sum();
    assert!(replies > SCRIPT.len(), "QEMU answered only {replies} times");
}

/// Open connections on `socket` as the kernel lists them (the listener and every accepted one).
fn connections_on(socket: &Path) -> usize {
    let table = std::fs::read_to_string("/proc/net/unix").unwrap();
    let path = socket.to_string_lossy();
    table.lines().filter(|l| l.ends_with(path.as_ref())).count()
}

#[test]
fn the_runner_closes_its_side_of_every_finished_client() {
    let home = MaqetHome::new();
    let socket = start_bare(&home, "vm1");
    let before = connections_on(&socket);
    for i in 0..50 {
        if i % 2 == 0 {
            let mut client = Raw::connect(&socket);
            assert!(client.read().get("QMP").is_some(), "a greeting");
        } else {
            let (mut client, _) = Raw::negotiated(&socket, &[]);
            client.send(br#"{"execute":"query-status"}"#);
            assert_eq!(client.reply()["return"]["status"], "running");
        }
    }
    for _ in 0..20 {
        maqet_json(&home, &["qmp", "vm1", "query-status"]);
    }
    // The runner closes a connection when its client has gone; give it a moment to notice.
    let deadline = Instant::now() + Duration::from_secs(10);
    while connections_on(&socket) > before && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        connections_on(&socket),
        before,
        "the runner still holds connections of clients that have gone"
    );
}
