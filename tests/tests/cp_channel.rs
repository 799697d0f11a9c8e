//! Issue Q §1, the copy channel: a VM with the guest agent also gets a virtio-serial port of
//! its own for `cp` (`org.maqet.copy.0`), and `--via auto` copies through it by itself and
//! says so. Real QEMU (TCG), the busybox test guest (its port is `/dev/vportNpM`, no udev) and
//! its real qemu-ga: a file and a tree in and out, byte for byte; a guest that is root cannot
//! make a copy out write outside the destination or past the size it reported; a guest
//! program that holds the port makes `auto` fall back (and say why) and `--via channel` fail;
//! a copy killed mid-way does not leave the channel blocked; the port survives `stop --save`
//! and the restore; and `--via channel` on a VM without the channel fails with exit 3.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use maqet_tests::MaqetHome;
use maqet_tests::cli::{
    add, fails_with, guest_sh, maqet_json, maqet_ok, no_os_config, start_agent_guest, vm_id,
};
use serde_json::Value;

fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test path")
}

/// `maqet cp ARGS --format json`; its report.
fn cp(home: &MaqetHome, args: &[&str]) -> Value {
    let mut all = vec!["cp"];
    all.extend_from_slice(args);
    maqet_json(home, &all)
}

/// Bytes that differ from block to block (a plain pattern would hide shifted data).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 7) as u8
        })
        .collect()
}

/// Every path below `dir` (links not followed), sorted, relative to `dir`.
fn tree(dir: &Path) -> Vec<PathBuf> {
    maqet_tests::paths_below(dir, true)
}

/// The guest device of the copy port, found as maqet finds it.
fn guest_port(home: &MaqetHome, vm: &str) -> String {
    guest_sh(
        home,
        vm,
        r#"for d in /sys/class/virtio-ports/*; do [ "$(cat $d/name)" = org.maqet.copy.0 ] && echo /dev/${d##*/}; done"#,
    )
    .trim()
    .to_owned()
}

#[test]
fn auto_copies_files_and_trees_through_the_channel_and_a_hostile_guest_stays_inside() {
    let home = MaqetHome::new();
    start_agent_guest(&home, "ch");
    let port = guest_port(&home, "ch");
    assert!(port.starts_with("/dev/vport"), "the port exists: {port:?}");

    // A file in and out, byte for byte, through the channel by itself.
    let data = pattern(3 << 20, 1);
    let local = home.path().join("data.bin");
    std::fs::write(&local, &data).unwrap();
    let sent = cp(&home, &[arg(&local), "ch:/tmp/data.bin"]);
    assert_eq!(sent["transport"], "channel", "{sent}");
    assert_eq!(sent["bytes"], 3 << 20, "{sent}");
    assert!(sent["channel_skipped"].is_null(), "{sent}");
    assert_eq!(
        guest_sh(&home, "ch", "wc -c < /tmp/data.bin").trim(),
        (3 << 20).to_string()
    );
    let back = home.path().join("back.bin");
    let got = cp(&home, &["ch:/tmp/data.bin", arg(&back)]);
    assert_eq!(got["transport"], "channel", "{got}");
    assert!(std::fs::read(&back).unwrap() == data, "the bytes differ");
    let human = maqet_ok(&home, &["cp", "--force", "ch:/tmp/data.bin", arg(&back)]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("via channel ("), "{human}");

    // A tree in and out: files (one empty), a subdirectory, a link kept as a link.
    let src = home.path().join("site");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(src.join("empty"), b"").unwrap();
    std::fs::write(src.join("sub/b.bin"), pattern(200_000, 2)).unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    let tree_in = cp(&home, &["-r", arg(&src), "ch:/tmp/"]);
    assert_eq!(tree_in["transport"], "channel", "{tree_in}");
    assert_eq!(tree_in["links"], 1, "{tree_in}");
    let dest = home.path().join("copy");
    let tree_out = cp(&home, &["-r", "ch:/tmp/site", arg(&dest)]);
    assert_eq!(tree_out["transport"], "channel", "{tree_out}");
    assert_eq!(tree_out["files"], 3, "{tree_out}");
    for file in ["a.txt", "empty", "sub/b.bin"] {
        assert_eq!(
            std::fs::read(dest.join(file)).unwrap(),
            std::fs::read(src.join(file)).unwrap(),
            "{file}"
        );
    }

    // A hostile guest: a `find` that lists entries outside the directory asked for, and a
    // `stat` that under-reports, so the guest's `cat` sends more than it said.
    let out = home.path().join("out");
    std::fs::create_dir(&out).unwrap();
    guest_sh(
        &home,
        "ch",
        r#"mkdir -p /tmp/d && printf 'one\n' > /tmp/d/a.txt && mv /bin/find /tmp/find.real && cat > /bin/find <<'END'
#!/bin/sh
printf '%s\0' "$1/a.txt" "$1/../../escape" /etc/escape-abs
END
chmod 755 /bin/find"#,
    );
    let err = fails_with(
        &home,
        &[
            "cp",
            "--via",
            "channel",
            "-r",
            "ch:/tmp/d",
            arg(&out.join("evil")),
        ],
        1,
    );
    assert!(err.contains("not to be trusted"), "{err}");
    guest_sh(&home, "ch", "mv /tmp/find.real /bin/find");
    guest_sh(
        &home,
        "ch",
        r#"mv /bin/stat /tmp/stat.real && cat > /bin/stat <<'END'
#!/bin/sh
for a; do case "$a" in -*|%*) ;; *) echo "4 81a4";; esac; done
END
chmod 755 /bin/stat"#,
    );
    let err = fails_with(&home, &["cp", "ch:/tmp/data.bin", arg(&out)], 1);
    assert!(err.contains("grew beyond the 4 bytes"), "{err}");
    guest_sh(&home, "ch", "mv /tmp/stat.real /bin/stat");
    // (The refused tree's top directory was made before the listing came; it stays empty.)
    assert_eq!(
        tree(&out),
        [PathBuf::from("evil")],
        "left on the host: {:?}",
        tree(&out)
    );
    assert!(!home.path().join("escape").exists());
    // The guest's `cat` that was cut off does not hold the port: the next copy works.
    let again = cp(&home, &["ch:/tmp/site/a.txt", arg(&out)]);
    assert_eq!(again["transport"], "channel", "{again}");
    assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"alpha\n");

    // A guest program that holds the port open: `auto` copies through the agent and says
    // why, `--via channel` fails and says what holds it.
    guest_sh(
        &home,
        "ch",
        &format!("{{ sh -c 'exec 3<{port}; sleep 600' </dev/null >/dev/null 2>&1 & }}"),
    );
    let fell_back = cp(&home, &["--force", "ch:/tmp/site/a.txt", arg(&out)]);
    assert_eq!(fell_back["transport"], "agent", "{fell_back}");
    let why = fell_back["channel_skipped"].as_str().unwrap_or_default();
    assert!(why.contains("holds the port"), "{fell_back}");
    let err = fails_with(
        &home,
        &[
            "cp",
            "--via",
            "channel",
            "--force",
            "ch:/tmp/site/a.txt",
            arg(&out),
        ],
        1,
    );
    assert!(
        err.contains("holds the port") && err.contains("--via agent"),
        "{err}"
    );
    guest_sh(&home, "ch", "pkill -f 'sleep 600' || killall sleep || true");

    // While another copy holds the channel (its lock), `auto` goes through the agent and says
    // so; once it is free, the channel again.
    let held = maqet_tests::cli::hold_copy_channel(&home, "ch");
    let second = cp(&home, &["--force", "ch:/tmp/site/a.txt", arg(&out)]);
    assert_eq!(second["transport"], "agent", "{second}");
    let why = second["channel_skipped"].as_str().unwrap_or_default();
    assert!(why.contains("another `maqet cp`"), "{second}");
    drop(held);

    // A copy killed mid-way: its guest end is ended by the next copy, which goes through.
    guest_sh(&home, "ch", "head -c 33554432 /dev/urandom > /tmp/big");
    let mut child = home
        .std_cmd()
        .args(["cp", "ch:/tmp/big", arg(&out)])
        .current_dir(home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = home
        .runtime_dir()
        .join("vms")
        .join(vm_id(&home, "ch"))
        .join("copy.pid");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pid_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(pid_file.exists(), "the copy started its guest end");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "the copy was killed mid-way: {status}"
    );
    let after = cp(&home, &["--force", "ch:/tmp/site/a.txt", arg(&out)]);
    assert_eq!(after["transport"], "channel", "{after}");

    // Managed save and restore keep the port: the restored guest copies through it.
    let saved = maqet_json(&home, &["stop", "ch", "--save"]);
    assert_eq!(saved["status"], "saved", "{saved}");
    maqet_ok(&home, &["start", "ch"]);
    maqet_ok(&home, &["wait", "ch", "--agent", "--timeout", "60"]);
    let restored = home.path().join("restored.bin");
    let got = cp(&home, &["ch:/tmp/data.bin", arg(&restored)]);
    assert_eq!(got["transport"], "channel", "{got}");
    assert!(
        std::fs::read(&restored).unwrap() == data,
        "the bytes differ"
    );
}

#[test]
fn via_channel_on_a_vm_without_the_channel_fails_clearly() {
    let home = MaqetHome::new();
    add(&home, "plain", &no_os_config("plain", ""));
    let err = fails_with(
        &home,
        &["cp", "--via", "channel", "/etc/hostname", "plain:/tmp/x"],
        3,
    );
    assert!(
        err.contains("has no copy channel") && err.contains("guest_agent: true"),
        "{err}"
    );
    add(
        &home,
        "nochan",
        &no_os_config("nochan", "guest_agent: true\ncopy_channel: false\n"),
    );
    let err = fails_with(
        &home,
        &["cp", "--via", "channel", "/etc/hostname", "nochan:/tmp/x"],
        3,
    );
    assert!(err.contains("copy_channel: false"), "{err}");
}
