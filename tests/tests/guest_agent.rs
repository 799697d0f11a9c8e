//! Issue H through the `maqet` CLI against real QEMU (TCG) and the test guest, which runs
//! qemu-ga on `org.qemu.guest_agent.0` and busybox httpd on port 8080: exec (output, exit
//! codes, stderr, JSON, timeouts, concurrent clients), cp in and out (checksums on both sides,
//! 20 MiB, directories), port forwards, guest info, stop through the agent, re-adoption, a
//! guest whose agent never starts, and the errors for taken ports and VMs without an agent.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::thread;
use std::time::Duration;

use maqet_tests::cli::{
    add, describe, fails_with, is_alive, maqet, maqet_json, maqet_ok, no_os_config, status,
};
use maqet_tests::{GUEST_KERNEL_APPEND, MaqetHome, guest_config_yaml_with_append, test_guest};
use serde_json::Value;

/// Seconds `wait --agent` may take: the guest boots under TCG on a busy machine.
const BOOT_WAIT: &str = "180";

/// A host TCP port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("an ephemeral port");
    listener.local_addr().expect("a bound address").port()
}

/// Adds and starts a test-guest VM with the agent channel, then waits for the agent.
fn start_guest(home: &MaqetHome, name: &str, append: &str, extra: &str) {
    let extra = format!("guest_agent: true\n{extra}");
    add(
        home,
        name,
        &guest_config_yaml_with_append(name, append, &extra),
    );
    maqet_ok(home, &["start", name]);
}

fn wait_agent(home: &MaqetHome, name: &str) {
    maqet_ok(home, &["wait", name, "--agent", "--timeout", BOOT_WAIT]);
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256_guest(home: &MaqetHome, vm: &str, path: &str) -> String {
    let out = maqet_ok(home, &["exec", vm, "--", "sha256sum", path]);
    stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn random_file(path: &Path, len: usize) {
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random bytes");
    std::fs::write(path, &bytes).expect("write the test file");
}

/// The guest kernel's release, from the test guest's build record.
fn guest_kernel_release() -> String {
    let guest = test_guest();
    let version = guest.kernel.with_file_name("VERSION");
    let text = std::fs::read_to_string(&version).expect("the test guest has a VERSION file");
    text.lines()
        .find_map(|l| l.strip_prefix("kernel_release="))
        .expect("VERSION names the kernel release")
        .to_owned()
}

fn http_get(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the forwarded port accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: guest\r\n\r\n")
        .expect("send the request");
    let mut answer = String::new();
    drop(stream.read_to_string(&mut answer));
    answer
}

#[test]
fn exec_cp_ports_info_and_stop_through_the_agent() {
    let home = MaqetHome::new();
    let port = free_port();
    let ports = format!("ports: [{{host: {port}, guest: 8080}}]\n");
    start_guest(&home, "ga", GUEST_KERNEL_APPEND, &ports);
    // Straight after start: the agent is not up yet, and wait --agent waits for it.
    wait_agent(&home, "ga");

    // exec: the guest's kernel, exit codes, stderr, signals, JSON.
    let out = maqet_ok(&home, &["exec", "ga", "--", "uname", "-r"]);
    assert_eq!(stdout(&out).trim(), guest_kernel_release());
    let args = [
        "exec",
        "ga",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ];
    let out = maqet(&home, &args);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&args, &out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let args = ["exec", "ga", "--", "sh", "-c", "kill -TERM $$"];
    let out = maqet(&home, &args);
    assert_eq!(
        out.status.code(),
        Some(128 + 15),
        "{}",
        describe(&args, &out)
    );
    // JSON after `--` would be the guest command's; the exit code passes through here too.
    let args = [
        "exec",
        "ga",
        "--format",
        "json",
        "--",
        "sh",
        "-c",
        "printf 'a\\nb'; exit 3",
    ];
    let out = maqet(&home, &args);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&args, &out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("a JSON result");
    assert_eq!(json["exitcode"], 3, "{json}");
    assert_eq!(json["stdout"], "a\nb", "{json}");
    assert_eq!(json["stderr"], "", "{json}");
    assert_eq!(json["truncated"], false, "{json}");
    let out = maqet_ok(
        &home,
        &[
            "exec",
            "ga",
            "--env",
            "GREETING=hi there",
            "--cwd",
            "/tmp",
            "--",
            "sh",
            "-c",
            "echo \"$GREETING\" $(pwd)",
        ],
    );
    assert_eq!(stdout(&out), "hi there /tmp\n");
    let input = home.path().join("input.txt");
    std::fs::write(&input, b"line one\nline two\n").expect("write input");
    let out = maqet_ok(
        &home,
        &[
            "exec",
            "ga",
            "--input",
            input.to_str().expect("UTF-8"),
            "--",
            "wc",
            "-l",
        ],
    );
    assert_eq!(stdout(&out).trim(), "2");

    // --timeout ends the wait with exit 2 and the guest command is killed.
    let err = fails_with(
        &home,
        &["exec", "ga", "--timeout", "2", "--", "sleep", "30"],
        2,
    );
    assert!(err.contains("did not finish within 2.0 s"), "{err}");
    let out = maqet_ok(
        &home,
        &[
            "exec",
            "ga",
            "--",
            "sh",
            "-c",
            "ps | grep -c '[s]leep 30' || true",
        ],
    );
    assert_eq!(stdout(&out).trim(), "0", "the timed-out command still runs");

    // 4 clients at once: every one gets its own answer.
    let answers: Vec<(usize, Output)> = thread::scope(|scope| {
        let home = &home;
        let handles: Vec<_> = (0..4)
            .map(|i| {
                scope.spawn(move || {
                    let word = format!("client-{i}");
                    (
                        i,
                        maqet(
                            home,
                            &[
                                "exec",
                                "ga",
                                "--",
                                "sh",
                                "-c",
                                &format!("sleep 0.2; echo {word}"),
                            ],
                        ),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    for (i, out) in answers {
        assert!(
            out.status.success(),
            "{}",
            describe(&["exec", "(client)"], &out)
        );
        assert_eq!(stdout(&out), format!("client-{i}\n"));
    }

    // cp: 1 MiB of random bytes in and out, checked on both sides; then 20 MiB.
    for (len, name) in [(1 << 20, "one.bin"), (20 << 20, "twenty.bin")] {
        let local = home.path().join(name);
        random_file(&local, len);
        let guest_path = format!("ga:/tmp/{name}");
        maqet_ok(&home, &["cp", local.to_str().expect("UTF-8"), &guest_path]);
        assert_eq!(
            sha256_guest(&home, "ga", &format!("/tmp/{name}")),
            maqet_tests::sha256_of_file(&local)
        );
        let back = home.path().join(format!("back-{name}"));
        maqet_ok(&home, &["cp", &guest_path, back.to_str().expect("UTF-8")]);
        assert_eq!(
            maqet_tests::sha256_of_file(&back),
            maqet_tests::sha256_of_file(&local),
            "{name} changed on the way"
        );
    }
    // An existing destination needs --force, on either side.
    let one = home.path().join("one.bin");
    let one = one.to_str().expect("UTF-8");
    let err = fails_with(&home, &["cp", one, "ga:/tmp/one.bin"], 3);
    assert!(err.contains("--force"), "{err}");
    let back = home.path().join("back-one.bin");
    let err = fails_with(
        &home,
        &["cp", "ga:/tmp/one.bin", back.to_str().expect("UTF-8")],
        3,
    );
    assert!(err.contains("--force"), "{err}");
    maqet_ok(&home, &["cp", "--force", one, "ga:/tmp/one.bin"]);
    // A failed read leaves no partial file on the host.
    let missing = home.path().join("missing-copy");
    fails_with(
        &home,
        &[
            "cp",
            "ga:/tmp/no-such-file",
            missing.to_str().expect("UTF-8"),
        ],
        1,
    );
    let leftovers: Vec<_> = std::fs::read_dir(home.path())
        .expect("list the home")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("missing-copy"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Directories with -r, in and back out.
    let tree = home.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).expect("make a tree");
    std::fs::write(tree.join("top.txt"), b"top\n").expect("write");
    std::fs::write(tree.join("sub/deeper/leaf.bin"), [0u8, 255, 10, 13]).expect("write");
    let tree_arg = tree.to_str().expect("UTF-8");
    fails_with(&home, &["cp", tree_arg, "ga:/tmp/"], 3);
    maqet_ok(&home, &["cp", "-r", tree_arg, "ga:/tmp/"]);
    let out = maqet_ok(&home, &["exec", "ga", "--", "cat", "/tmp/tree/top.txt"]);
    assert_eq!(stdout(&out), "top\n");
    let copy = home.path().join("tree-copy");
    maqet_ok(
        &home,
        &["cp", "-r", "ga:/tmp/tree", copy.to_str().expect("UTF-8")],
    );
    assert_eq!(
        std::fs::read(copy.join("sub/deeper/leaf.bin")).expect("copied leaf"),
        [0u8, 255, 10, 13]
    );
    assert_eq!(
        std::fs::read(copy.join("top.txt")).expect("copied top"),
        b"top\n"
    );

    // The forwarded port reaches the guest's httpd, and status lists the forward.
    maqet_ok(&home, &["wait", "ga", "--tcp", "8080", "--timeout", "60"]);
    let page = http_get(port);
    assert!(page.contains("maqet test guest"), "{page}");
    let report = status(&home, "ga");
    assert_eq!(
        report["configuration"]["ports"][0]["host"], port,
        "{report}"
    );
    assert_eq!(
        report["configuration"]["ports"][0]["guest"], 8080,
        "{report}"
    );

    // guest info: the agent's version and commands, the guest's kernel and interfaces.
    let info = maqet_json(&home, &["guest", "info", "ga"]);
    assert!(
        info["agent_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{info}"
    );
    let allowed = info["allowed_commands"].as_array().expect("a command list");
    assert!(allowed.iter().any(|c| c == "guest-exec"), "{info}");
    assert_eq!(
        info["os"]["kernel-release"],
        guest_kernel_release().as_str(),
        "{info}"
    );
    let names: Vec<&str> = info["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert!(names.contains(&"eth0"), "{info}");

    // stop --agent: the guest powers itself off through guest-shutdown.
    let report = maqet_json(&home, &["stop", "ga", "--agent", "--timeout", "60"]);
    assert_eq!(report["method"], "agent", "{report}");
    assert_eq!(status(&home, "ga")["status"], "stopped");
}

#[test]
fn exec_still_works_after_the_runner_is_killed_and_a_new_one_adopts_qemu() {
    let home = MaqetHome::new();
    start_guest(&home, "adopt", GUEST_KERNEL_APPEND, "");
    wait_agent(&home, "adopt");
    let before = status(&home, "adopt");
    let runner = u32::try_from(before["runner_pid"].as_u64().expect("a runner pid")).expect("pid");
    let qemu = u32::try_from(before["pid"].as_u64().expect("a QEMU pid")).expect("pid");
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(
        unsafe { libc::kill(runner as libc::pid_t, libc::SIGKILL) },
        0
    );
    assert!(maqet_tests::cli::wait_until_dead(
        runner,
        Duration::from_secs(10)
    ));
    let out = maqet_ok(&home, &["exec", "adopt", "--", "echo", "still here"]);
    assert_eq!(stdout(&out), "still here\n");
    let after = status(&home, "adopt");
    assert_eq!(after["pid"], qemu, "the same QEMU: {after}");
    assert_ne!(after["runner_pid"], runner, "a new runner: {after}");
    maqet_ok(&home, &["stop", "adopt", "--force"]);
}

#[test]
fn a_guest_whose_agent_never_starts_times_out_instead_of_hanging() {
    let home = MaqetHome::new();
    let append = format!("{GUEST_KERNEL_APPEND} maqet.no_agent=1");
    start_guest(&home, "silent", &append, "");
    let err = fails_with(&home, &["wait", "silent", "--agent", "--timeout", "3"], 2);
    assert!(err.contains("guest agent"), "{err}");
    let err = fails_with(
        &home,
        &["exec", "silent", "--timeout", "3", "--", "true"],
        2,
    );
    assert!(err.contains("wait silent --agent"), "{err}");
    // The runner still serves everything else.
    assert_eq!(status(&home, "silent")["status"], "running");
    maqet_ok(&home, &["stop", "silent", "--force"]);
}

#[test]
fn taken_or_repeated_host_ports_are_refused_before_qemu_starts() {
    let home = MaqetHome::new();
    let holder = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let port = holder.local_addr().expect("bound").port();
    add(
        &home,
        "taken",
        &no_os_config("taken", &format!("ports: [{{host: {port}, guest: 22}}]")),
    );
    let err = fails_with(&home, &["start", "taken"], 3);
    assert!(err.contains(&format!("host port {port}/tcp")), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "names the holder: {err}"
    );
    let report = status(&home, "taken");
    assert_eq!(report["status"], "created", "{report}");
    assert!(report["pid"].is_null(), "{report}");
    assert!(
        maqet_tests::kill_processes_mentioning(home.path()) == 0,
        "nothing may be left running"
    );

    let twice = no_os_config(
        "twice",
        "ports: [{host: 7001, guest: 22}, {host: 7001, guest: 23}]",
    );
    let config = home.write_config("twice", &twice);
    let err = fails_with(&home, &["add", config.to_str().expect("UTF-8")], 3);
    assert!(err.contains("forwarded twice"), "{err}");
    drop(holder);
}

#[test]
fn guest_commands_on_a_vm_without_the_agent_say_how_to_add_it() {
    let home = MaqetHome::new();
    add(&home, "plain", &no_os_config("plain", ""));
    for args in [
        vec!["exec", "plain", "--", "true"],
        vec!["cp", "/etc/hostname", "plain:/tmp/x"],
        vec!["guest", "info", "plain"],
        vec!["wait", "plain", "--agent", "--timeout", "1"],
    ] {
        let err = fails_with(&home, &args, 3);
        assert!(err.contains("guest_agent: true"), "{args:?}: {err}");
    }
    let err = fails_with(&home, &["exec", "plain"], 3);
    assert!(err.contains("after `--`"), "{err}");
    let err = fails_with(&home, &["cp", "/etc/hostname", "/tmp/x"], 3);
    assert!(err.contains("VM:/path"), "{err}");
    // The guest agent check comes first; a stopped VM with the key is "not running".
    add(&home, "idle", &no_os_config("idle", "guest_agent: true"));
    let err = fails_with(&home, &["exec", "idle", "--", "true"], 3);
    assert!(err.contains("not running"), "{err}");
    assert!(!is_alive(0));
    let _: Value = status(&home, "idle");
}
