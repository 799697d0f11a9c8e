//! First-boot identity with the busybox test guest (issue N): the cloud-init seed maqet writes
//! at start is seen by the guest's kernel on a virtio disk, the SSH forward is chosen and kept,
//! the host key is learnt from the console, and `ssh` / `ssh-config` / `wait --ssh` say what
//! they need. The test guest has no cloud-init or sshd: the login itself is tested on Debian
//! (`debian_must_show.rs`).
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use maqet_tests::cli::{add, describe, json_of, maqet, maqet_json, maqet_ok, vm_data_dir, vm_id};
use maqet_tests::{MaqetHome, guest_config_yaml, wait_for_file_text};

/// A valid ed25519 public key for the fake host key block.
const HOST_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPT0cvPLq0p3Ife4oEwD4Z7I57MEkAlOfuAUUL7ko6Nw";

#[test]
fn configs_without_identity_keys_get_no_seed_and_no_forward() {
    let home = MaqetHome::new();
    add(
        &home,
        "plain",
        &guest_config_yaml("plain", "guest_agent: true"),
    );
    let info = maqet_json(&home, &["info", "plain"]);
    let argv = info["qemu_argv"].to_string();
    assert!(
        !argv.contains("cidata") && !argv.contains("hostfwd"),
        "{argv}"
    );
    let out = maqet(&home, &["ssh", "plain"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&["ssh"], &out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no first-boot identity"));
}

#[test]
fn the_seed_reaches_the_guest_and_ssh_needs_a_known_host_key() {
    let home = MaqetHome::new();
    let extra = "guest_agent: true\nuser: tester\nhostname: fb-host\n";
    add(&home, "fb", &guest_config_yaml("fb", extra));
    let before = maqet(&home, &["ssh", "fb"]);
    assert_eq!(
        before.status.code(),
        Some(3),
        "{}",
        describe(&["ssh"], &before)
    );
    assert!(String::from_utf8_lossy(&before.stderr).contains("has not started"));

    let started = maqet_json(&home, &["start", "fb"]);
    let port = started["ssh"]["port"]
        .as_u64()
        .expect("start reports the ssh port");
    assert_eq!(started["ssh"]["user"], "tester");
    let data = vm_data_dir(&home, "fb");
    let serial = data.join("serial.log");
    let seen = wait_for_file_text(&serial, "MAQET-GUEST CDROM[^\n]*", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("the guest did not report the seed: {e}"));
    assert!(
        seen.contains("cidata") && seen.contains("user-data") && seen.contains("meta-data"),
        "{seen}"
    );
    let blocks =
        wait_for_file_text(&serial, "MAQET-GUEST BLOCK:[^\n]*", Duration::from_secs(5)).unwrap();
    assert!(blocks.contains("vd"), "the seed is a virtio disk: {blocks}");

    let info = maqet_json(&home, &["info", "fb"]);
    let argv = info["qemu_argv"].to_string();
    assert!(
        argv.contains(&format!("hostfwd=tcp:127.0.0.1:{port}-:22")),
        "{argv}"
    );
    assert!(
        argv.contains("virtio-blk-pci") && !argv.contains("ahci"),
        "{argv}"
    );

    // The seed holds the user with maqet's own key, which only the user can read.
    let key = home.data_dir().join("ssh/id_ed25519");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let user_data = std::fs::read_to_string(data.join("cloud-init/user-data")).unwrap();
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    assert!(
        user_data.contains("\"name\": \"tester\"") && user_data.contains("fb-host"),
        "{user_data}"
    );
    assert!(user_data.contains(public.trim()), "{user_data}");
    let instance = std::fs::read_to_string(data.join("cloud-init/instance-id")).unwrap();

    maqet_ok(&home, &["wait", "fb", "--agent", "--timeout", "180"]);
    // No host key on the console yet: no ssh, and `wait --ssh` times out with exit 2.
    let unknown = maqet(&home, &["ssh", "fb", "--format", "json"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not known yet"));
    let waited = maqet(&home, &["wait", "fb", "--ssh", "--timeout", "2"]);
    assert_eq!(
        waited.status.code(),
        Some(2),
        "{}",
        describe(&["wait"], &waited)
    );

    // The guest prints a host key block on its console, as cloud-init does.
    let script = format!(
        "printf '%s\\r\\n' '-----BEGIN SSH HOST KEY KEYS-----' '{HOST_KEY} root@fb-host' '-----END SSH HOST KEY KEYS-----' >/dev/ttyS0"
    );
    maqet_ok(&home, &["exec", "fb", "--", "sh", "-c", &script]);
    wait_for_file_text(
        &serial,
        "-----END SSH HOST KEY KEYS-----",
        Duration::from_secs(10),
    )
    .unwrap();
    let ssh = json_of(&home, &["ssh", "fb", "--format", "json", "--", "hostname"]);
    let words: Vec<String> = serde_json::from_value(ssh["argv"].clone()).unwrap();
    let id = vm_id(&home, "fb");
    for want in [
        "StrictHostKeyChecking=yes",
        &format!("HostKeyAlias=maqet-{id}"),
        &port.to_string(),
        "tester",
        &key.to_string_lossy(),
    ] {
        assert!(
            words.iter().any(|w| w == want),
            "{want} missing from {words:?}"
        );
    }
    assert_eq!(words.last().map(String::as_str), Some("hostname"));
    let known = std::fs::read_to_string(data.join("cloud-init/known_hosts")).unwrap();
    assert_eq!(known, format!("maqet-{id} {HOST_KEY}\n"));

    let config = String::from_utf8(maqet_ok(&home, &["ssh-config", "fb"]).stdout).unwrap();
    for want in [
        "Host fb\n",
        "HostName 127.0.0.1\n",
        &format!("Port {port}\n"),
        "User tester\n",
        "IdentitiesOnly yes\n",
        "StrictHostKeyChecking yes\n",
    ] {
        assert!(config.contains(want), "{want:?} missing from\n{config}");
    }
    let status = String::from_utf8(maqet_ok(&home, &["status", "fb"]).stdout).unwrap();
    assert!(
        status.contains(&format!("ssh:        tester@127.0.0.1:{port}")),
        "{status}"
    );

    // A restart keeps the instance (cloud-init does not run again) and the port.
    maqet_ok(&home, &["stop", "fb", "--force"]);
    let again = maqet_json(&home, &["start", "fb"]);
    assert_eq!(again["ssh"]["port"].as_u64(), Some(port));
    let after = std::fs::read_to_string(data.join("cloud-init/instance-id")).unwrap();
    assert_eq!(after, instance);
    maqet_ok(&home, &["stop", "fb", "--force"]);

    // A changed identity is a new instance: new id, and the old host keys are forgotten.
    maqet_ok(&home, &["apply", "fb", "--hostname", "fb-two"]);
    maqet_ok(&home, &["start", "fb"]);
    let changed = std::fs::read_to_string(data.join("cloud-init/instance-id")).unwrap();
    assert_ne!(changed, instance);
    assert!(!data.join("cloud-init/known_hosts").exists());
    maqet_ok(&home, &["stop", "fb", "--force"]);
}

#[test]
fn bad_identity_values_are_refused_by_name_with_nothing_added() {
    let home = MaqetHome::new();
    for (extra, want) in [
        ("user: Alice", "`user`: `Alice` is not a portable user name"),
        ("user: root", "`root` cannot be the first-boot user"),
        (
            "hostname: web_1",
            "`hostname`: `web_1` is not a valid host name",
        ),
        (
            "ssh_authorized_keys: [\"ssh-ed25519 non!sense\"]",
            "`ssh_authorized_keys[0]`: the `ssh-ed25519` key's data is not valid base64",
        ),
        (
            "user_data: 7",
            "`user_data`: must be a mapping (cloud-config) or text",
        ),
    ] {
        let config = home.write_config("bad", &guest_config_yaml("bad", extra));
        let out = maqet(&home, &["add", &config.to_string_lossy()]);
        assert_eq!(out.status.code(), Some(3), "{}", describe(&["add"], &out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{extra}: {stderr}");
    }
    assert_eq!(maqet_json(&home, &["ls"]).as_array().map(Vec::len), Some(0));
}
