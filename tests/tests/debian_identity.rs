//! First-boot identity on a real Debian 12 guest (issue N, items 3 and 4): from a fresh maqet
//! home, a five-line config (Debian's image under a qcow2 overlay, memory, the guest agent and
//! identity defaults) starts, `wait --ssh` sees a working login, and `maqet ssh` runs commands
//! as the first-boot user with the key the test made, checking the guest's host key.
//!
//! The guest is built by `tests/guest/build-debian.sh` (Debian's cloud kernel, which has no
//! AHCI driver: the seed must be on virtio for cloud-init to see it). One boot, ~1-2 minutes
//! under TCG. Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use maqet_tests::MaqetHome;
use maqet_tests::cli::{describe, maqet, maqet_json, maqet_ok};

/// The Debian guest image, built (or found in the cache) by `tests/guest/build-debian.sh`.
fn user_key(home: &MaqetHome) -> String {
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    let key = ssh.join("id_ed25519");
    let made = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "debian-identity-test",
            "-f",
        ])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs (openssh-client)");
    assert!(made.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_debian_cloud_guest_gets_its_user_key_and_host_name_and_maqet_ssh_logs_in() {
    let image = maqet_tests::debian_guest();
    let home = MaqetHome::new();
    let key = user_key(&home);
    let config = home.write_config(
        "deb",
        &format!(
            "name: deb\n\
             memory: 1G\n\
             accel: tcg\n\
             guest_agent: true\n\
             cloud_init: true\n\
             storage: [{{name: root, type: qcow2, backing_file: {}, backing_format: qcow2}}]\n",
            serde_json::Value::from(image.to_string_lossy()),
        ),
    );
    maqet_ok(&home, &["add", &config.to_string_lossy()]);
    let started = maqet_json(&home, &["start", "deb"]);
    let user = started["ssh"]["user"]
        .as_str()
        .expect("start reports the ssh user")
        .to_owned();

    // Longer than the helpers' hang guard: the boot takes minutes under TCG.
    let waited = home
        .cmd()
        .current_dir(home.path())
        .args(["wait", "deb", "--ssh", "--timeout", "400"])
        .timeout(Duration::from_secs(450))
        .output()
        .unwrap();
    if !waited.status.success() {
        let serial = maqet_tests::cli::vm_data_dir(&home, "deb").join("serial.log");
        let log = std::fs::read(&serial).unwrap_or_default();
        let tail = &log[log.len().saturating_sub(4000)..];
        panic!(
            "{}\n--- serial log tail\n{}",
            describe(&["wait", "--ssh"], &waited),
            String::from_utf8_lossy(tail)
        );
    }

    let hostname = maqet_ok(&home, &["ssh", "deb", "--", "hostname"]);
    assert_eq!(String::from_utf8_lossy(&hostname.stdout).trim(), "deb");
    let who = maqet_ok(&home, &["ssh", "deb", "--", "id", "-un"]);
    assert_eq!(String::from_utf8_lossy(&who.stdout).trim(), user);
    // The user's own key is in authorized_keys, next to maqet's, and sudo needs no password.
    let keys = maqet_ok(
        &home,
        &["ssh", "deb", "--", "cat", "~/.ssh/authorized_keys"],
    );
    let keys = String::from_utf8_lossy(&keys.stdout).into_owned();
    assert!(keys.contains(&key), "{key} missing from\n{keys}");
    let sudo = maqet_ok(&home, &["ssh", "deb", "--", "sudo", "-n", "id", "-u"]);
    assert_eq!(String::from_utf8_lossy(&sudo.stdout).trim(), "0");
    // The guest's exit code is maqet's.
    let failed = maqet(&home, &["ssh", "deb", "--", "exit", "7"]);
    assert_eq!(failed.status.code(), Some(7));

    // The user's own key logs in too, through the `ssh-config` block (as scp or Ansible would).
    let config = home.path().join("ssh_config");
    std::fs::write(&config, maqet_ok(&home, &["ssh-config", "deb"]).stdout).unwrap();
    let own = Command::new("ssh")
        .arg("-F")
        .arg(&config)
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(format!(
            "IdentityFile={}",
            home.path().join(".ssh/id_ed25519").display()
        ))
        .args(["deb", "hostname"])
        .output()
        .unwrap();
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&own.stdout).trim(), "deb");
    // A clone boots next to its source as its own machine: its own host name, a new
    // cloud-init instance (so new SSH host keys) and its own forwarded port.
    maqet_ok(&home, &["stop", "deb"]);
    maqet_ok(&home, &["clone", "deb", "deb2"]);
    maqet_ok(&home, &["start", "deb"]);
    maqet_ok(&home, &["start", "deb2"]);
    for vm in ["deb", "deb2"] {
        let waited = home
            .cmd()
            .current_dir(home.path())
            .args(["wait", vm, "--ssh", "--timeout", "500"])
            .timeout(Duration::from_secs(550))
            .output()
            .unwrap();
        assert!(
            waited.status.success(),
            "{}",
            describe(&["wait", vm, "--ssh"], &waited)
        );
    }
    let guest_text = |vm: &str, args: &[&str]| {
        let mut argv = vec!["ssh", vm, "--"];
        argv.extend_from_slice(args);
        String::from_utf8_lossy(&maqet_ok(&home, &argv).stdout)
            .trim()
            .to_owned()
    };
    assert_eq!(guest_text("deb2", &["hostname"]), "deb2");
    assert_eq!(guest_text("deb", &["hostname"]), "deb");
    let instance = ["cat", "/var/lib/cloud/data/instance-id"];
    assert_ne!(guest_text("deb", &instance), guest_text("deb2", &instance));
    let host_key = ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"];
    assert_ne!(guest_text("deb", &host_key), guest_text("deb2", &host_key));
    let ports: Vec<_> = ["deb", "deb2"]
        .iter()
        .map(|vm| maqet_json(&home, &["status", vm])["ssh"]["port"].clone())
        .collect();
    assert_ne!(ports[0], ports[1], "{ports:?}");
    maqet_ok(&home, &["stop", "deb2", "--force"]);
    maqet_ok(&home, &["stop", "deb", "--force"]);
}
