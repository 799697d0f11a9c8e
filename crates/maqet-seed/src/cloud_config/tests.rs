use serde_json::{Value, json};

use super::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPT0cvPLq0p3Ife4oEwD4Z7I57MEkAlOfuAUUL7ko6Nw test";

fn identity() -> Identity {
    Identity {
        user: "alice".into(),
        ssh_authorized_keys: vec![KEY.into()],
        hostname: "web".into(),
    }
}

/// The user-data's body after `#cloud-config` (JSON, which YAML reads as it is).
fn body(bytes: &[u8]) -> Value {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let rest = text
        .strip_prefix("#cloud-config\n")
        .expect("a #cloud-config header");
    serde_json::from_str(rest).unwrap()
}

#[test]
fn generated_user_data_creates_the_user_with_sudo_and_keys() {
    let config = body(&user_data(&identity(), None));
    assert_eq!(config["hostname"], "web");
    assert_eq!(config["manage_etc_hosts"], true);
    let user = &config["users"][0];
    assert_eq!(user["name"], "alice");
    assert_eq!(user["sudo"], "ALL=(ALL) NOPASSWD:ALL");
    assert_eq!(user["lock_passwd"], true);
    assert_eq!(user["ssh_authorized_keys"], json!([KEY]));
    assert_eq!(config["ssh_pwauth"], false);
    // maqet reads the host keys from the console.
    assert_eq!(config["ssh"]["emit_keys_to_console"], true);
}

#[test]
fn a_user_data_mapping_is_set_over_the_generated_one_and_a_string_replaces_it() {
    let extra = json!({"packages": ["htop"], "hostname": "other"});
    let config = body(&user_data(&identity(), Some(&extra)));
    assert_eq!(config["packages"], json!(["htop"]));
    assert_eq!(config["hostname"], "other");
    assert_eq!(config["users"][0]["name"], "alice");
    let raw = json!("#!/bin/sh\necho hi\n");
    assert_eq!(user_data(&identity(), Some(&raw)), b"#!/bin/sh\necho hi\n");
}

#[test]
fn values_cannot_break_out_of_their_strings() {
    // Checked values never get here, but the writer must hold even if one did.
    let mut odd = identity();
    odd.hostname = "web\nruncmd: [reboot]".into();
    let config = body(&user_data(&odd, None));
    assert!(config.get("runcmd").is_none());
    assert_eq!(config["hostname"], "web\nruncmd: [reboot]");
    let meta: Value = serde_json::from_slice(&meta_data("i-1", "a\nb: c")).unwrap();
    assert_eq!(
        meta,
        json!({"instance-id": "i-1", "local-hostname": "a\nb: c"})
    );
}

#[test]
fn network_config_mapping_becomes_json_and_text_stays() {
    let net = json!({"version": 2, "ethernets": {"e": {"dhcp4": true}}});
    let back: Value = serde_json::from_slice(&network_config(&net)).unwrap();
    assert_eq!(back, net);
    assert_eq!(network_config(&json!("version: 1\n")), b"version: 1\n");
}

#[test]
fn user_names_and_host_names_are_checked() {
    for good in ["alice", "_svc", "a-b_1"] {
        assert!(check_user_name(good).is_ok(), "{good}");
    }
    for bad in ["", "Alice", "1a", "a b", "a:b", "root", &"a".repeat(33)] {
        assert!(check_user_name(bad).is_err(), "{bad}");
    }
    for good in ["web", "web-1.example.org", "a"] {
        assert!(check_hostname(good).is_ok(), "{good}");
    }
    for bad in ["", "-a", "a-", "a..b", "a_b", "a b", &"a".repeat(64)] {
        assert!(check_hostname(bad).is_err(), "{bad}");
    }
    assert_eq!(hostname_from_vm_name("my_vm.1").as_deref(), Some("my-vm.1"));
    assert_eq!(hostname_from_vm_name("__"), None);
}

#[test]
fn authorized_keys_must_be_one_well_formed_key_line() {
    assert!(check_authorized_key(KEY).is_ok());
    let blob = KEY.split(' ').nth(1).unwrap();
    for bad in [
        "".to_owned(),
        "not a key".to_owned(),
        format!("command=\"rm -rf /\" ssh-ed25519 {blob}"),
        format!("ssh-rsa {blob}"),
        format!("ssh-ed25519 {blob}\nssh-ed25519 {blob}"),
        "ssh-ed25519 ###".to_owned(),
    ] {
        assert!(check_authorized_key(&bad).is_err(), "{bad}");
    }
}

#[test]
fn each_new_instance_runs_the_machine_id_step_once() {
    let config = body(&user_data(&identity(), None));
    let step = &config["bootcmd"][0];
    assert_eq!(step, &machine_id_bootcmd());
    // `cloud-init-per instance NAME`: once per instance id, not at every boot.
    assert_eq!(step[0], "cloud-init-per");
    assert_eq!(step[1], "instance");
    assert_eq!(step[2], "maqet-machine-id");
    assert_eq!(step[3], "sh");
    assert_eq!(step[4], "-c");
    // A user's own `bootcmd` replaces the generated one (their mapping's keys win).
    let extra = json!({"bootcmd": ["echo mine"]});
    let config = body(&user_data(&identity(), Some(&extra)));
    assert_eq!(config["bootcmd"], json!(["echo mine"]));
}

/// Runs the machine-id step's script with the guest's paths moved into `dir` and a
/// `systemd-machine-id-setup` that writes `new-id` (as the real one writes a random id);
/// returns the machine id and the record afterwards.
fn run_machine_id_step(
    dir: &std::path::Path,
    machine_id: &str,
    record: Option<&str>,
) -> (String, String) {
    let etc = dir.join("machine-id");
    let rec = dir.join("record");
    std::fs::write(&etc, machine_id).unwrap();
    match record {
        Some(text) => std::fs::write(&rec, text).unwrap(),
        None => drop(std::fs::remove_file(&rec)),
    }
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let setup = bin.join("systemd-machine-id-setup");
    std::fs::write(
        &setup,
        format!("#!/bin/sh\nprintf 'new-id\\n' > {}\n", etc.display()),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&setup).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&setup, perms).unwrap();
    let script = machine_id_bootcmd()[5]
        .as_str()
        .unwrap()
        .replace(MACHINE_ID_RECORD, &rec.to_string_lossy())
        .replace("/etc/machine-id", &etc.to_string_lossy())
        .replace(
            "/var/lib/dbus/machine-id",
            &dir.join("dbus-id").to_string_lossy(),
        );
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let status = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("PATH", path)
        .status()
        .unwrap();
    assert!(status.success());
    (
        std::fs::read_to_string(&etc).unwrap(),
        std::fs::read_to_string(&rec).unwrap(),
    )
}

#[test]
fn a_machine_id_left_from_an_earlier_instance_is_replaced_and_a_fresh_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    // First instance of a fresh image: systemd has just made the id; it is kept and noted.
    let (id, record) = run_machine_id_step(dir.path(), "aaaa\n", None);
    assert_eq!((id.as_str(), record.as_str()), ("aaaa\n", "aaaa\n"));
    // A later instance on the same disk (a clone, a changed identity): a new id, noted.
    let (id, record) = run_machine_id_step(dir.path(), "aaaa\n", Some("aaaa\n"));
    assert_eq!((id.as_str(), record.as_str()), ("new-id\n", "new-id\n"));
    // An id someone already changed since the last instance is theirs to keep.
    let (id, record) = run_machine_id_step(dir.path(), "bbbb\n", Some("aaaa\n"));
    assert_eq!((id.as_str(), record.as_str()), ("bbbb\n", "bbbb\n"));
}
