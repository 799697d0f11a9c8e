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
