//! Issue Q, item 1 (`cp`): on the real Debian 12 guest (first-boot identity, an SSH forward,
//! its agent) `maqet cp` goes through the VM's copy channel by itself, and while another copy
//! holds the channel it goes over SSH by itself and says so, `--via agent` still goes through
//! the agent, a host key maqet did not learn is refused, `auto` falls back to the agent when
//! the guest's sshd is stopped, a tree copied in over SSH keeps its links and modes, and a
//! recursive copy out over SSH never writes outside its destination (guest links are not
//! followed or copied; a host link in the destination is refused). One boot under TCG, every
//! check on it.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use maqet_tests::cli::{describe, fails_with, maqet, maqet_json, maqet_ok, vm_data_dir};
use maqet_tests::guest_checks::maqet_slow;
use maqet_tests::{MaqetHome, debian_guest};
use serde_json::Value;

/// Seconds the Debian guest may take to accept SSH under TCG on a loaded machine (a guard).
const BOOT_SECS: &str = "900";

fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test path")
}

/// `maqet cp ARGS --format json`; its report.
fn cp(home: &MaqetHome, args: &[&str]) -> Value {
    let mut all = vec!["cp"];
    all.extend_from_slice(args);
    maqet_json(home, &all)
}

/// Runs `script` in the guest as root, through the agent; its stdout.
fn guest_root(home: &MaqetHome, script: &str) -> String {
    let args = ["exec", "deb", "--timeout", "120", "--", "sh", "-c", script];
    String::from_utf8_lossy(&maqet_ok(home, &args).stdout)
        .trim()
        .to_owned()
}

/// Every path below `dir` (links not followed), sorted, relative to `dir`.
fn tree(dir: &Path) -> Vec<String> {
    maqet_tests::paths_below(dir, true)
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}

fn sha256(path: &Path) -> String {
    maqet_tests::sha256_of_file(path)
}

fn assert_transport(report: &Value, want: &str) {
    assert_eq!(report["transport"], want, "{report}");
    assert!(report["bytes_per_second"].as_u64().is_some(), "{report}");
}

#[test]
fn cp_takes_ssh_by_itself_checks_the_host_key_and_falls_back_to_the_agent() {
    let began = Instant::now();
    let image = debian_guest();
    let home = MaqetHome::new();
    let yaml = format!(
        "memory: 1G\naccel: tcg\ncloud_init: true\nguest_agent: true\nstorage:\n  \
         - {{name: hdd, type: qcow2, size: 4G, backing_file: \"{}\", backing_format: qcow2}}\n",
        image.display()
    );
    let config = home.write_config("deb", &yaml);
    maqet_ok(&home, &["add", arg(&config), "--name", "deb"]);
    maqet_slow(&home, &["start", "deb"], 600);
    maqet_slow(
        &home,
        &["wait", "deb", "--ssh", "--timeout", BOOT_SECS],
        900,
    );
    eprintln!(
        "cp_ssh: guest up after {:.0} s",
        began.elapsed().as_secs_f64()
    );

    // In and out through the copy channel, chosen by itself (the VM has the agent).
    let data = home.path().join("data.bin");
    let bytes: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&data, &bytes).unwrap();
    let by_channel = cp(&home, &[arg(&data), "deb:/tmp/channel.bin"]);
    assert_transport(&by_channel, "channel");
    let in_guest = guest_root(&home, "sha256sum /tmp/channel.bin");
    assert!(in_guest.starts_with(&sha256(&data)), "{in_guest}");
    let channel_back = home.path().join("channel-back.bin");
    let got = cp(&home, &["deb:/tmp/channel.bin", arg(&channel_back)]);
    assert_transport(&got, "channel");
    assert_eq!(std::fs::read(&channel_back).unwrap(), bytes);

    // From here on another copy holds the channel, so `auto` passes it over and says so.
    let _channel_busy = maqet_tests::cli::hold_copy_channel(&home, "deb");

    // In and out over SSH, chosen by itself; the bytes arrive exactly, written as root.
    let sent = cp(&home, &[arg(&data), "deb:/tmp/data.bin"]);
    assert_transport(&sent, "ssh");
    assert_eq!(sent["bytes"], bytes.len() as u64, "{sent}");
    assert!(sent["ssh_skipped"].is_null(), "{sent}");
    let busy = sent["channel_skipped"].as_str().unwrap_or_default();
    assert!(busy.contains("another `maqet cp`"), "{sent}");
    let in_guest = guest_root(&home, "sha256sum /tmp/data.bin; stat -c %U /tmp/data.bin");
    assert!(in_guest.starts_with(&sha256(&data)), "{in_guest}");
    assert!(in_guest.ends_with("root"), "{in_guest}");
    let back = home.path().join("back.bin");
    let got = cp(&home, &["deb:/tmp/data.bin", arg(&back)]);
    assert_transport(&got, "ssh");
    assert_eq!(std::fs::read(&back).unwrap(), bytes);
    let human = String::from_utf8_lossy(
        &maqet_ok(&home, &["cp", "--force", "deb:/tmp/data.bin", arg(&back)]).stdout,
    )
    .into_owned();
    assert!(human.contains("via ssh ("), "{human}");

    // A tree into the guest over SSH: links stay links, permission bits are kept.
    let src = home.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), b"alpha\n").unwrap();
    std::fs::set_permissions(src.join("a.txt"), PermissionsExt::from_mode(0o640)).unwrap();
    std::fs::write(src.join("sub/b.bin"), [0u8, 1, 2, 255]).unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    let tree_in = cp(&home, &["-r", arg(&src), "deb:/tmp/"]);
    assert_transport(&tree_in, "ssh");
    assert_eq!(
        (&tree_in["files"], &tree_in["links"]),
        (&2.into(), &1.into()),
        "{tree_in}"
    );
    let seen = guest_root(
        &home,
        "stat -c %a /tmp/src/a.txt; readlink /tmp/src/link; od -An -tu1 /tmp/src/sub/b.bin",
    );
    let seen: Vec<&str> = seen.lines().map(str::trim).collect();
    assert_eq!(seen, ["640", "a.txt", "0   1   2 255"], "{tree_in}");

    // `--via agent` still goes through the agent.
    let by_agent = home.path().join("by-agent.bin");
    let agent = cp(
        &home,
        &["--via", "agent", "deb:/tmp/data.bin", arg(&by_agent)],
    );
    assert_transport(&agent, "agent");
    assert_eq!(std::fs::read(&by_agent).unwrap(), bytes);

    // `--max-bytes` bounds a copy out over SSH as it does through the agent.
    let refused = home.path().join("refused.bin");
    let args = [
        "cp",
        "--max-bytes",
        "1M",
        "deb:/tmp/data.bin",
        arg(&refused),
    ];
    let err = fails_with(&home, &args, 1);
    assert!(err.contains("--max-bytes"), "{err}");
    assert!(!refused.exists());

    // A recursive copy out over SSH: guest links (to `/`, to a file outside, to `..`) are
    // neither followed nor copied, and a host link in the destination is refused.
    guest_root(
        &home,
        "mkdir -p /tmp/tree/sub && echo leaf > /tmp/tree/sub/f && ln -s / /tmp/tree/root \
         && ln -s /etc/shadow /tmp/tree/shadow && ln -s .. /tmp/tree/sub/up",
    );
    let outside = home.path().join("outside");
    let dest = home.path().join("dest");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&dest).unwrap();
    let tree_copy = cp(&home, &["-r", "deb:/tmp/tree", arg(&dest)]);
    assert_transport(&tree_copy, "ssh");
    assert_eq!(
        tree(&dest),
        ["tree", "tree/sub", "tree/sub/f"],
        "{tree_copy}"
    );
    assert_eq!(std::fs::read(dest.join("tree/sub/f")).unwrap(), b"leaf\n");
    let trap = home.path().join("trap");
    std::fs::create_dir_all(&trap).unwrap();
    std::os::unix::fs::symlink(&outside, trap.join("tree")).unwrap();
    fails_with(&home, &["cp", "-r", "deb:/tmp/tree", arg(&trap)], 3);
    assert!(tree(&outside).is_empty(), "{:?}", tree(&outside));

    // A host key maqet did not learn is refused: `--via ssh` fails (exit 4), `auto` copies
    // through the agent and says why.
    let known_hosts = vm_data_dir(&home, "deb").join("cloud-init/known_hosts");
    let learnt = std::fs::read_to_string(&known_hosts).unwrap();
    let other = home.path().join("other_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(made.success());
    let other_key = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let alias = learnt.split_whitespace().next().unwrap();
    let other_key: Vec<&str> = other_key.split_whitespace().take(2).collect();
    let forged = format!("{alias} {}\n", other_key.join(" "));
    std::fs::write(&known_hosts, forged).unwrap();
    let args = ["cp", "--via", "ssh", "deb:/tmp/data.bin", "nope.bin"];
    let err = fails_with(&home, &args, 4);
    assert!(err.contains("host key"), "{err}");
    assert!(!home.path().join("nope.bin").exists());
    let fell_back = cp(&home, &["deb:/tmp/data.bin", "fallback.bin"]);
    assert_transport(&fell_back, "agent");
    let why = fell_back["ssh_skipped"].as_str().unwrap_or_default();
    assert!(why.contains("host key"), "{fell_back}");
    std::fs::write(&known_hosts, &learnt).unwrap();
    assert_transport(&cp(&home, &["deb:/tmp/data.bin", "again.bin"]), "ssh");

    // With the guest's sshd stopped, `auto` falls back to the agent quickly; `--via ssh` fails.
    guest_root(
        &home,
        "systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl stop ssh; true",
    );
    let probing = Instant::now();
    let no_sshd = cp(&home, &["deb:/tmp/data.bin", "no-sshd.bin"]);
    let waited = probing.elapsed();
    assert_transport(&no_sshd, "agent");
    assert!(!no_sshd["ssh_skipped"].is_null(), "{no_sshd}");
    assert_eq!(
        std::fs::read(home.path().join("no-sshd.bin")).unwrap(),
        bytes
    );
    assert!(
        waited < Duration::from_secs(60),
        "the fall-back took {waited:?}: {no_sshd}"
    );
    let args = ["cp", "--via", "ssh", "deb:/tmp/data.bin", "never.bin"];
    let out = maqet(&home, &args);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));

    maqet_slow(&home, &["stop", "deb", "--force"], 120);
    eprintln!("cp_ssh: whole test {:.0} s", began.elapsed().as_secs_f64());
}
