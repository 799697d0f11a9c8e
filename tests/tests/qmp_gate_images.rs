//! Issue P item 5 through a VM's `qmp.sock`: the raw-QMP gate checks what QEMU would open
//! behind an image (its backing chain and data file) and device properties that name host
//! paths, against real QEMU (TCG) running the test guest.
//!
//! "Outside the user's directories" is a directory under cargo's target dir
//! (`CARGO_TARGET_TMPDIR`): not `$HOME`, `$XDG_RUNTIME_DIR`, `/tmp` or `/var/tmp` of the VM's
//! runner, so it stands for `/srv` or another user's home. A second user is real: uid 65534
//! through `setpriv` (these tests run as root, as tests/tests/security.rs does).
//!
//! Build the binaries first: `cargo build --workspace`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use maqet_tests::cli::{add, fails_with, maqet_json, maqet_ok};
use maqet_tests::{MaqetHome, guest_config_yaml, qemu_img};
use serde_json::{Value, json};

const SECRET: &[u8] = b"MAQET-SECRET-0600-do-not-show-the-guest\n";
const LEGIT: &[u8] = b"MAQET-LEGIT-BACKING-DATA\n";

/// A raw QMP client of the VM's socket, negotiated without the opt-in.
struct Raw {
    stream: UnixStream,
    buffer: Vec<u8>,
}

impl Raw {
    fn negotiated(socket: &Path) -> Raw {
        Raw::negotiated_with(socket, &[])
    }

    /// Negotiates, enabling `capabilities`.
    fn negotiated_with(socket: &Path, capabilities: &[&str]) -> Raw {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut raw = Raw {
            stream,
            buffer: Vec::new(),
        };
        raw.read();
        let reply = raw.execute(json!({"execute": "qmp_capabilities",
            "arguments": {"enable": capabilities}}));
        assert_eq!(reply, json!({"return": {}}), "negotiation");
        raw
    }

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

    /// Sends one command and returns its answer (events are skipped).
    fn execute(&mut self, command: Value) -> Value {
        self.stream
            .write_all(command.to_string().as_bytes())
            .unwrap();
        loop {
            let message = self.read();
            if message.get("event").is_none() {
                return message;
            }
        }
    }

    /// The gate's refusal text for `command`; fails when it was not refused by maqet.
    fn refusal(&mut self, command: Value) -> String {
        let reply = self.execute(command.clone());
        let desc = reply["error"]["desc"].as_str().unwrap_or_default();
        assert!(
            desc.starts_with("maqet refused ") && desc.contains("--allow-dangerous"),
            "{command} was not refused by the gate: {reply}"
        );
        desc.to_owned()
    }
}

/// Runs `program args` as uid/gid 65534, a real second user; asserts success.
fn as_nobody(program: &str, args: &[&str]) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test plants files as a second user and must run as root"
    );
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("setpriv (util-linux) must be installed");
    assert!(
        out.status.success(),
        "setpriv {program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A 1 MiB raw file starting with `content`, mode `mode`.
fn raw_file(path: &Path, content: &[u8], mode: u32) {
    let mut bytes = content.to_vec();
    bytes.resize(1 << 20, 0);
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The guest's cdrom (the pc machine's `ide1-cd0`) from `query-block`: its `device` (block
/// backend) name and the file of the medium in it, if any.
fn cdrom(raw: &mut Raw) -> (String, Option<String>) {
    let reply = raw.execute(json!({"execute": "query-block"}));
    let block = reply["return"]
        .as_array()
        .unwrap_or_else(|| panic!("query-block: {reply}"))
        .iter()
        .find(|b| b["device"].as_str().is_some_and(|d| d.contains("-cd")))
        .unwrap_or_else(|| panic!("the guest has no cdrom: {reply}"))
        .clone();
    let file = block["inserted"]["file"].as_str().map(str::to_owned);
    (block["device"].as_str().unwrap().to_owned(), file)
}

fn change_medium(device: &str, filename: &Path) -> Value {
    json!({"execute": "blockdev-change-medium",
        "arguments": {"device": device, "filename": text(filename)}})
}

#[test]
fn the_gate_checks_backing_chains_data_files_and_device_paths_against_a_running_guest() {
    let home = MaqetHome::new();
    add(
        &home,
        "gate",
        &guest_config_yaml("gate", "guest_agent: true\n"),
    );
    maqet_ok(&home, &["start", "gate"]);
    maqet_ok(&home, &["wait", "gate", "--agent", "--timeout", "180"]);
    let status = maqet_json(&home, &["status", "gate"]);
    let socket = PathBuf::from(status["qmp_socket"]["path"].as_str().unwrap());
    let mut raw = Raw::negotiated(&socket);
    let (device, before) = cdrom(&mut raw);

    // Outside the user's directories: a 0600 secret (standing for a file under /srv).
    let outside = tempfile::Builder::new()
        .prefix("srv-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let secret = outside.path().join("secret.raw");
    raw_file(&secret, SECRET, 0o600);
    // Planted in /tmp (one of the user's directories) by the user.
    let planted = tempfile::Builder::new()
        .prefix("maqet-gate-")
        .tempdir_in("/tmp")
        .unwrap();

    // (a) A qcow2 in /tmp whose backing file is the secret: refused, naming the backing file.
    let evil = planted.path().join("evil.qcow2");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        text(&secret),
        text(&evil),
    ]);
    let desc = raw.refusal(change_medium(&device, &evil));
    assert!(
        desc.contains("backing file") && desc.contains(text(&secret)),
        "{desc}"
    );
    let backup = json!({"execute": "drive-backup", "arguments": {"device": device,
        "target": text(&evil), "sync": "full", "mode": "existing"}});
    let desc = raw.refusal(backup);
    assert!(desc.contains(text(&secret)), "{desc}");
    // `maqet qmp` meets the same gate: exit 3, the backing file named.
    let args = [
        "qmp",
        "gate",
        "blockdev-change-medium",
        "--device",
        &device,
        "--filename",
        text(&evil),
    ];
    let stderr = fails_with(&home, &args, 3);
    assert!(stderr.contains(text(&secret)), "{stderr}");
    let add_node = json!({"execute": "blockdev-add", "arguments": {"driver": "qcow2",
        "node-name": "evil", "file": {"driver": "file", "filename": text(&evil)}}});
    raw.refusal(add_node);
    assert_eq!(cdrom(&mut raw).1, before, "the guest's cdrom changed");

    // Another user's image naming a file in the user's own directory: refused for its owner,
    // since that user could rewrite which file it names after the check.
    let shared = planted.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(planted.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let own_secret = home.path().join("own-secret.raw");
    raw_file(&own_secret, SECRET, 0o600);
    let theirs = shared.join("theirs.qcow2");
    as_nobody(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-u",
            "-F",
            "raw",
            "-b",
            text(&own_secret),
            text(&theirs),
            "1M",
        ],
    );
    let desc = raw.refusal(change_medium(&device, &theirs));
    assert!(desc.contains("owned by uid 65534"), "{desc}");

    // The user's own image in a directory another user owns: that user could swap it.
    let their_dir = planted.path().join("their-dir");
    std::fs::create_dir(&their_dir).unwrap();
    let mine_there = their_dir.join("mine.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", text(&mine_there), "1M"]);
    std::os::unix::fs::chown(&their_dir, Some(65534), Some(65534)).unwrap();
    let desc = raw.refusal(change_medium(&device, &mine_there));
    assert!(desc.contains("which uid 65534 owns"), "{desc}");

    // (b) A qcow2 whose external data file lies outside: refused, naming the data file.
    let data = outside.path().join("data.raw");
    let with_data = planted.path().join("with-data.qcow2");
    let option = format!("data_file={}", text(&data));
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        &option,
        text(&with_data),
        "1M",
    ]);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o600)).unwrap();
    let desc = raw.refusal(change_medium(&device, &with_data));
    assert!(
        desc.contains("data file") && desc.contains(text(&data)),
        "{desc}"
    );
    let amend = json!({"execute": "x-blockdev-amend", "arguments": {"job-id": "a",
        "node-name": "n", "options": {"driver": "qcow2", "data-file": "x"}}});
    raw.refusal(amend);

    // (c) Devices naming host paths or devices: refused without the opt-in.
    let mtp = json!({"execute": "device_add",
        "arguments": {"driver": "usb-mtp", "rootdir": "/etc", "id": "mtp"}});
    let desc = raw.refusal(mtp);
    assert!(
        desc.contains("'rootdir'") && desc.contains("/etc"),
        "{desc}"
    );
    // `maqet qmp device-add` goes through the same gate (it used the trusted client before).
    let args = [
        "qmp",
        "device-add",
        "gate",
        "usb-mtp",
        "--device-id",
        "mtp2",
        "--rootdir",
        "/etc",
    ];
    let stderr = fails_with(&home, &args, 3);
    assert!(
        stderr.contains("rootdir") && stderr.contains("/etc"),
        "{stderr}"
    );
    let u2f = json!({"execute": "device_add",
        "arguments": {"driver": "u2f-passthru", "hidraw": "/dev/hidraw0"}});
    raw.refusal(u2f);
    let pcap = json!({"execute": "device_add",
        "arguments": {"driver": "usb-kbd", "pcap": "/var/lib/x.pcap"}});
    raw.refusal(pcap);

    // (d) An image in the user's directory backed by a file there too: accepted, and the
    // guest reads the backing file's data through it.
    let base = home.path().join("base.raw");
    raw_file(&base, LEGIT, 0o600);
    let top = home.path().join("top.qcow2");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        text(&base),
        text(&top),
    ]);
    let reply = raw.execute(change_medium(&device, &top));
    assert_eq!(reply, json!({"return": {}}), "legitimate medium refused");
    assert_eq!(cdrom(&mut raw).1.as_deref(), Some(text(&top)));
    // The first read after a medium change reports the change (an I/O error); retry.
    let read_cd = "for i in 1 2 3 4 5 6 7 8 9 10; do \
        dd if=/dev/sr0 bs=2048 count=1 2>/dev/null && exit 0; sleep 1; done; exit 1";
    let out = maqet_ok(&home, &["exec", "gate", "--", "sh", "-c", read_cd]);
    assert!(
        out.stdout.starts_with(LEGIT),
        "the guest did not read the backing data: {:?}",
        String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(64)])
    );

    // The refused image really would have shown the secret: with the owner's opt-in the gate
    // steps aside, QEMU opens it, and the guest reads the 0600 file through it.
    let mut trusted = Raw::negotiated_with(&socket, &["x-maqet-allow-dangerous"]);
    let reply = trusted.execute(change_medium(&device, &evil));
    assert_eq!(reply, json!({"return": {}}), "with the opt-in");
    let out = maqet_ok(&home, &["exec", "gate", "--", "sh", "-c", read_cd]);
    assert!(
        out.stdout.starts_with(SECRET),
        "the attack image did not work"
    );
    maqet_ok(&home, &["stop", "gate", "--force"]);
}
