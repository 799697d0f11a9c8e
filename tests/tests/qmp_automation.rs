//! Driving a running VM through QMP with the `maqet` CLI as a new user would (issue B): raw
//! commands, typing and keys that change the guest's screen, screendumps (PPM and PNG),
//! pause/resume, device hot-plug, refused input, several clients on the VM's `qmp.sock`, and
//! the socket's permissions. Runs the real test guest (or a VM without an OS) under TCG.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use maqet_tests::cli::{add, describe, fails_with, maqet, maqet_json, maqet_ok, no_os_config};
use maqet_tests::{
    GUEST_KERNEL_APPEND, MaqetHome, READY_BANNER, guest_config_yaml_with_append, wait_for_file_text,
};
use serde_json::{Value, json};

/// Hides the console cursor so that a screen only changes when the guest draws something.
const STILL_SCREEN_APPEND: &str = "vt.global_cursor_default=0";

/// Adds and starts a VM that has no OS: enough for QMP, cheap to run.
fn start_bare(home: &MaqetHome, name: &str) {
    add(home, name, &no_os_config(name, ""));
    maqet_json(home, &["start", name]);
}

/// Adds and starts the test guest with a standard VGA screen and waits for its banner.
fn boot_guest(home: &MaqetHome, name: &str) {
    let append = format!("{GUEST_KERNEL_APPEND} {STILL_SCREEN_APPEND}");
    add(
        home,
        name,
        &guest_config_yaml_with_append(name, &append, "vga: std"),
    );
    maqet_json(home, &["start", name]);
    maqet_json(
        home,
        &["wait", name, "--serial", READY_BANNER, "--timeout", "120"],
    );
}

/// Takes a screendump to `file` (relative to the home) and returns its bytes.
fn screendump(home: &MaqetHome, vm: &str, file: &str) -> Vec<u8> {
    maqet_ok(home, &["qmp", "screendump", vm, file]);
    std::fs::read(home.path().join(file)).unwrap()
}

/// Screendumps until two in a row are equal (the guest has finished drawing); returns it.
fn still_screen(home: &MaqetHome, vm: &str, file: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = screendump(home, vm, file);
    loop {
        thread::sleep(Duration::from_millis(400));
        let now = screendump(home, vm, file);
        if now == last {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the guest's screen never stopped changing"
        );
        last = now;
    }
}

/// Screendumps until the screen differs from `before`; returns the new screen (or panics).
fn changed_screen(home: &MaqetHome, vm: &str, file: &str, before: &[u8], what: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = screendump(home, vm, file);
        if now != before {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not change the guest's screen"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

fn query_status(home: &MaqetHome, vm: &str) -> Value {
    maqet_json(home, &["qmp", vm, "query-status"])
}

/// Every `qdev_id` in a `query-pci` answer, bridges included.
fn pci_device_ids(value: &Value, ids: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(id)) = map.get("qdev_id") {
                ids.push(id.clone());
            }
            map.values().for_each(|v| pci_device_ids(v, ids));
        }
        Value::Array(items) => items.iter().for_each(|v| pci_device_ids(v, ids)),
        _ => {}
    }
}

fn pci_ids(home: &MaqetHome, vm: &str) -> Vec<String> {
    let mut ids = Vec::new();
    pci_device_ids(&maqet_json(home, &["qmp", vm, "query-pci"]), &mut ids);
    ids
}

fn socket_path(home: &MaqetHome, vm: &str) -> PathBuf {
    let status = maqet_json(home, &["status", vm]);
    PathBuf::from(
        status["socket_path"]
            .as_str()
            .unwrap_or_else(|| panic!("no socket_path in {status}")),
    )
}

#[test]
fn raw_qmp_commands_answer_and_errors_exit_non_zero() {
    let home = MaqetHome::new();
    start_bare(&home, "bare");

    let answer = query_status(&home, "bare");
    assert_eq!(answer["status"], "running", "{answer}");
    assert_eq!(answer["running"], true, "{answer}");
    let run = maqet_json(&home, &["qmp", "run", "bare", "query-status"]);
    assert_eq!(run["status"], "running", "{run}");

    let args = ["qmp", "bare", "no-such-command"];
    let stderr = fails_with(&home, &args, 1);
    assert!(
        stderr.contains("CommandNotFound"),
        "QEMU's error class: {stderr}"
    );

    let args = ["qmp", "bare", "quit"];
    let stderr = fails_with(&home, &args, 3);
    assert!(
        stderr.contains("--allow-dangerous"),
        "the message must name the way out: {stderr}"
    );
    assert_eq!(
        query_status(&home, "bare")["status"],
        "running",
        "a refused quit was sent"
    );

    let args = ["qmp", "bare", "quit", "--allow-dangerous"];
    let out = maqet(&home, &args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let deadline = Instant::now() + Duration::from_secs(10);
    while maqet_json(&home, &["status", "bare"])["is_running"] == true {
        assert!(
            Instant::now() < deadline,
            "quit --allow-dangerous did not stop QEMU"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn typed_text_and_keys_change_the_guest_screen() {
    let home = MaqetHome::new();
    boot_guest(&home, "vm1");

    let before = still_screen(&home, "vm1", "before.ppm");
    assert!(before.starts_with(b"P6"), "QEMU writes PPM screendumps");

    // A character a US keyboard cannot type is refused before any key is sent.
    let args = ["qmp", "type", "vm1", "abcé"];
    let refused = maqet(&home, &args);
    assert_eq!(
        refused.status.code(),
        Some(3),
        "{}",
        describe(&args, &refused)
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains('é'));
    thread::sleep(Duration::from_secs(1));
    assert!(
        screendump(&home, "vm1", "refused.ppm") == before,
        "the typeable part of a refused text reached the guest"
    );

    // Typed on tty1; the command sends its output to the serial port, so the serial log shows
    // that the text and the Enter key reached the guest's shell.
    maqet_ok(
        &home,
        &["qmp", "type", "vm1", "echo maqet-typed >/dev/ttyS0"],
    );
    changed_screen(&home, "vm1", "typed.ppm", &before, "typing");
    maqet_ok(&home, &["qmp", "keys", "vm1", "ret"]);
    let serial_log = maqet_tests::cli::vm_data_dir(&home, "vm1").join("serial.log");
    let ran = wait_for_file_text(&serial_log, "maqet-typed", Duration::from_secs(30));
    assert!(ran.is_ok(), "the typed command did not run: {ran:?}");
    let entered = still_screen(&home, "vm1", "entered.ppm");
    assert!(
        entered != before,
        "typing and Enter did not change the screen"
    );

    // The documented form with the flag before the keys: Ctrl-L redraws the shell's screen.
    maqet_ok(
        &home,
        &["qmp", "keys", "vm1", "--hold-time", "50", "ctrl", "l"],
    );
    changed_screen(&home, "vm1", "cleared.ppm", &entered, "ctrl l");

    maqet_ok(&home, &["qmp", "screendump", "vm1", "screen.png", "--png"]);
    let png = std::fs::read(home.path().join("screen.png")).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {:?}",
        &png[..png.len().min(8)]
    );
    assert!(
        png.len() > 100,
        "a PNG of a whole screen is more than a header"
    );
}

#[test]
fn pause_and_resume_show_in_qmp_and_status() {
    let home = MaqetHome::new();
    start_bare(&home, "bare");

    maqet_ok(&home, &["qmp", "pause", "bare"]);
    let paused = query_status(&home, "bare");
    assert_eq!(paused["status"], "paused", "{paused}");
    assert_eq!(paused["running"], false, "{paused}");
    let shown = maqet_json(&home, &["status", "bare"]);
    assert_eq!(shown["status"], "paused", "{shown}");
    assert_eq!(
        shown["is_running"], true,
        "a paused VM still has its QEMU: {shown}"
    );

    maqet_ok(&home, &["qmp", "resume", "bare"]);
    assert_eq!(query_status(&home, "bare")["status"], "running");
    let shown = maqet_json(&home, &["status", "bare"]);
    assert_eq!(shown["status"], "running", "{shown}");
}

#[test]
fn hot_plugged_rng_shows_in_query_pci_and_goes_away_when_unplugged() {
    let home = MaqetHome::new();
    boot_guest(&home, "vm1");
    assert!(!pci_ids(&home, "vm1").contains(&"rng0".to_owned()));

    maqet_ok(
        &home,
        &[
            "qmp",
            "device-add",
            "vm1",
            "virtio-rng-pci",
            "--device-id",
            "rng0",
        ],
    );
    let ids = pci_ids(&home, "vm1");
    assert!(
        ids.contains(&"rng0".to_owned()),
        "rng0 not in query-pci: {ids:?}"
    );

    // Unplugging goes through the guest's ACPI hot-plug handler: poll for it.
    maqet_ok(&home, &["qmp", "device-del", "vm1", "rng0"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while pci_ids(&home, "vm1").contains(&"rng0".to_owned()) {
        assert!(
            Instant::now() < deadline,
            "rng0 still in query-pci after device-del"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// A raw QMP connection: greeting read, capabilities negotiated.
struct RawQmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl RawQmp {
    fn connect(socket: &Path) -> RawQmp {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let mut qmp = RawQmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read();
        assert!(greeting["QMP"]["version"]["qemu"].is_object(), "{greeting}");
        qmp.send(&json!({"execute": "qmp_capabilities"}));
        let reply = qmp.read_reply(None);
        assert!(reply.get("return").is_some(), "{reply}");
        qmp
    }

    fn send(&mut self, message: &Value) {
        self.writer
            .write_all(format!("{message}\n").as_bytes())
            .unwrap();
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .expect("a QMP answer in time");
        assert!(n > 0, "qmp.sock closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON {line:?}: {e}"))
    }

    /// The next reply (events skipped) and checks that it carries `id`.
    fn read_reply(&mut self, id: Option<&str>) -> Value {
        loop {
            let message = self.read();
            if message.get("event").is_some() {
                continue;
            }
            if let Some(id) = id {
                assert_eq!(
                    message["id"], id,
                    "the reply must carry the client's own id"
                );
            }
            return message;
        }
    }
}

#[test]
fn two_raw_clients_on_qmp_sock_both_get_answers() {
    let home = MaqetHome::new();
    start_bare(&home, "bare");
    let socket = socket_path(&home, "bare");

    let mut first = RawQmp::connect(&socket);
    let mut second = RawQmp::connect(&socket);
    // Both ask before either reads, with the same id: the multiplexer must keep them apart.
    first.send(&json!({"execute": "query-status", "id": "a"}));
    second.send(&json!({"execute": "query-status", "id": "a"}));
    second.send(&json!({"execute": "query-name", "id": "b"}));
    for client in [&mut first, &mut second] {
        let reply = client.read_reply(Some("a"));
        assert_eq!(reply["return"]["status"], "running", "{reply}");
    }
    let reply = second.read_reply(Some("b"));
    assert!(reply["return"].is_object(), "{reply}");

    // The CLI works while both stay connected.
    assert_eq!(query_status(&home, "bare")["status"], "running");
}

#[test]
fn qmp_socket_is_private_to_its_user() {
    let home = MaqetHome::new();
    start_bare(&home, "bare");
    let socket = socket_path(&home, "bare");

    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600, "qmp.sock at {}", socket.display());
    let dir = socket.parent().unwrap();
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
}
