//! The typed VM config (issue M, item 4) through the `maqet` CLI against real QEMU (TCG) and
//! the test guest: keys the core now reads as typed fields change what a user sees.
//!
//! - `shutdown_via: agent` in the config makes a plain `maqet stop` power the guest off through
//!   its agent (`method: agent`), with no `--agent` flag;
//! - `cpu` given as numeric text reaches QEMU (`info`'s command line) and `info`'s summary.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use maqet_tests::cli::{add, is_alive, maqet_json, maqet_ok};
use maqet_tests::{GUEST_KERNEL_APPEND, MaqetHome, guest_config_yaml_with_append};

/// Seconds `wait --agent` may take: the guest boots under TCG on a busy machine.
const BOOT_WAIT: &str = "180";

#[test]
fn shutdown_via_agent_in_the_config_makes_stop_use_the_agent() {
    let home = MaqetHome::new();
    let extra = "guest_agent: true\nshutdown_via: agent\n";
    add(
        &home,
        "byagent",
        &guest_config_yaml_with_append("byagent", GUEST_KERNEL_APPEND, extra),
    );
    maqet_ok(&home, &["start", "byagent"]);
    maqet_ok(
        &home,
        &["wait", "byagent", "--agent", "--timeout", BOOT_WAIT],
    );
    let pid = maqet_json(&home, &["status", "byagent"])["pid"]
        .as_u64()
        .expect("a running VM has a QEMU pid");

    let report = maqet_json(&home, &["stop", "byagent", "--timeout", "60"]);
    assert_eq!(report["method"], "agent", "{report}");
    assert_eq!(report["forced"], false, "{report}");
    assert!(
        !is_alive(u32::try_from(pid).expect("a pid fits in u32")),
        "QEMU {pid} still runs after stop"
    );
}

#[test]
fn cpu_as_numeric_text_reaches_the_qemu_command_line() {
    let home = MaqetHome::new();
    // Numeric text is a count too (`cpu: "2"`), as `--cpu 2` on a command line is.
    let yaml = guest_config_yaml_with_append("sized", GUEST_KERNEL_APPEND, "")
        .replace("cpu: 1\n", "cpu: \"2\"\n");
    assert!(
        yaml.contains("cpu: \"2\""),
        "the test guest's config changed: {yaml}"
    );
    add(&home, "sized", &yaml);
    let info = maqet_json(&home, &["info", "sized"]);
    let argv: Vec<&str> = info["qemu_argv"]
        .as_array()
        .expect("info has the QEMU command line")
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    let smp = argv
        .windows(2)
        .find(|pair| pair[0] == "-smp")
        .map(|pair| pair[1]);
    assert_eq!(smp, Some("2"), "{argv:?}");
    assert_eq!(info["configuration"]["cpu"], 2, "{info}");
}
