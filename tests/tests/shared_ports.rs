//! A host port is forwarded by one registered VM only, whichever command writes the config:
//! `apply` refuses a new `ports` entry another VM forwards (exit 3) unless `--force`, as `add`
//! does, and `clone` gives the clone host ports that no other VM forwards, also when that VM
//! forwards them on every address (`host_addr: 0.0.0.0`).
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::Output;

use maqet_tests::MaqetHome;
use maqet_tests::cli::{add, describe, maqet, maqet_json, no_os_config};
use serde_json::{Value, json};

/// A TCP port on 127.0.0.1 that is free right now, with the next two free as well.
fn free_port_run() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local address").port();
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if port < u16::MAX - 2 && free(port + 1) && free(port + 2) {
            return port;
        }
    }
}

fn ports_yaml(port: u16, host_addr: &str) -> String {
    format!("ports:\n  - {{host: {port}, guest: 22, host_addr: \"{host_addr}\"}}\n")
}

/// `maqet apply VM FILE EXTRA...` with `yaml` written to a file.
fn apply_with(home: &MaqetHome, vm: &str, file: &str, yaml: &str, extra: &[&str]) -> Output {
    let config = home.write_config(file, yaml);
    let mut args = vec!["apply", vm, config.to_str().expect("temp paths are UTF-8")];
    args.extend(extra);
    maqet(home, &args)
}

fn config_of(home: &MaqetHome, vm: &str) -> Value {
    maqet_json(home, &["info", vm])["config_data"].clone()
}

fn assert_refused(out: &Output, port: u16, holder: &str) {
    assert_eq!(out.status.code(), Some(3), "{}", describe(&["apply"], out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("host port {port}/tcp"))
            && stderr.contains(&format!("already forwarded by VM `{holder}`"))
            && stderr.contains("apply it anyway with `--force`"),
        "{stderr}"
    );
}

#[test]
fn apply_refuses_a_host_port_another_vm_forwards_unless_forced() {
    let home = MaqetHome::new();
    let port = free_port_run();
    add(
        &home,
        "first",
        &no_os_config("first", &ports_yaml(port, "127.0.0.1")),
    );
    add(&home, "second", &no_os_config("second", ""));

    // Changing an existing VM: refused, its config untouched.
    let wanted = ports_yaml(port, "127.0.0.1");
    let out = apply_with(&home, "second", "second-ports", &wanted, &[]);
    assert_refused(&out, port, "first");
    assert_eq!(config_of(&home, "second").get("ports"), None);

    // On every address it collides with the first VM's 127.0.0.1 as well.
    let wide = ports_yaml(port, "0.0.0.0");
    let out = apply_with(&home, "second", "second-wide", &wide, &[]);
    assert_refused(&out, port, "first");

    // Creating a VM through apply: refused, nothing created.
    let out = apply_with(
        &home,
        "third",
        "third",
        &no_os_config("third", &wanted),
        &[],
    );
    assert_refused(&out, port, "first");
    let rows = maqet_json(&home, &["ls"]);
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows}");

    // `--force` applies it; a later apply that adds no port is not refused for the old one.
    let out = apply_with(&home, "second", "second-ports", &wanted, &["--force"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&["apply", "--force"], &out)
    );
    assert_eq!(
        config_of(&home, "second")["ports"][0]["host"],
        json!(port),
        "the forced port is stored"
    );
    let out = maqet(&home, &["apply", "second", "--memory", "96M"]);
    assert!(
        out.status.success(),
        "{}",
        describe(&["apply", "--memory"], &out)
    );

    // Another port is fine without `--force`.
    let other = ports_yaml(port + 2, "127.0.0.1");
    let out = apply_with(&home, "first", "first-other", &other, &[]);
    assert!(out.status.success(), "{}", describe(&["apply"], &out));
}

#[test]
fn a_clone_gets_a_host_port_no_other_vm_forwards_on_any_address() {
    let home = MaqetHome::new();
    let port = free_port_run();
    add(
        &home,
        "src",
        &no_os_config("src", &ports_yaml(port, "127.0.0.1")),
    );
    // The next port up is declared on every address by another VM (not running).
    add(
        &home,
        "wide",
        &no_os_config("wide", &ports_yaml(port + 1, "0.0.0.0")),
    );

    let cloned = maqet_json(&home, &["clone", "src", "copy"]);
    let got = cloned["ports"][0]["host"]
        .as_u64()
        .unwrap_or_else(|| panic!("the clone forwards the port: {cloned}"));
    assert!(
        got != u64::from(port) && got != u64::from(port + 1),
        "the clone took port {got}, which `src` ({port}) or `wide` ({}) forwards: {cloned}",
        port + 1
    );
    assert_eq!(config_of(&home, "copy")["ports"][0]["host"], json!(got));

    // The clone's port now counts as declared: `add` of another VM on it is refused.
    let yaml = no_os_config("later", &ports_yaml(got as u16, "127.0.0.1"));
    let config = home.write_config("later", &yaml);
    let out = maqet(&home, &["add", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&["add"], &out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already forwarded by VM `copy`"),
        "{}",
        describe(&["add"], &out)
    );
}
