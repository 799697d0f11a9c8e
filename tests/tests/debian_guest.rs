//! A real Debian 12 guest (built by `tests/guest/build-debian.sh`) booting from its own disk
//! under maqet: BIOS, GRUB, systemd, a getty on the serial console, Debian's qemu-guest-agent.
//! The VM's disk is made `from:` the image served by a loopback HTTP server: maqet downloads it
//! into its image cache, checks its SHA-256 and makes the disk a 4 GiB qcow2 overlay on it.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use maqet_tests::cli::{add, describe, fails_with, maqet_json, maqet_ok};
use maqet_tests::{DEBIAN_LOGIN_PROMPT, MaqetHome, TestHttpServer, debian_guest, sha256_of_file};

/// Seconds the guest may take to reach `login:` under TCG on a busy shared machine (about a
/// minute on a quiet one).
const BOOT_TIMEOUT_SECS: u64 = 600;

/// A VM config booting the Debian image with 1 GiB of RAM under TCG, the guest agent channel
/// and the given `storage:` list (YAML, indented under `storage:`).
fn debian_vm_yaml(name: &str, storage: &str) -> String {
    format!(
        "name: {name}\nbinary: qemu-system-x86_64\nmemory: 1G\ncpu: 1\naccel: tcg\n\
         display: none\nguest_agent: true\nstorage:\n{storage}"
    )
}

/// Runs a `maqet` command that may legitimately take up to `secs` seconds (plus a margin).
fn maqet_slow(home: &MaqetHome, args: &[&str], secs: u64) -> Output {
    let out = home
        .cmd()
        .current_dir(home.path())
        .args(args)
        .timeout(Duration::from_secs(secs + 60))
        .output()
        .expect("the maqet binary must run");
    assert!(out.status.success(), "{}", describe(args, &out));
    out
}

/// Starts `vm`, waits for `login:` on its serial console and for its agent, checks through the
/// agent that the guest is Debian 12, and stops it with the ACPI power button.
fn boot_to_login_and_exec(home: &MaqetHome, vm: &str) {
    let started = Instant::now();
    maqet_ok(home, &["start", vm]);
    let timeout = BOOT_TIMEOUT_SECS.to_string();
    maqet_slow(
        home,
        &[
            "wait",
            vm,
            "--serial",
            DEBIAN_LOGIN_PROMPT,
            "--timeout",
            &timeout,
        ],
        BOOT_TIMEOUT_SECS,
    );
    eprintln!(
        "debian guest: `login:` on ttyS0 {:.1} s after `maqet start`",
        started.elapsed().as_secs_f64()
    );
    maqet_slow(home, &["wait", vm, "--agent", "--timeout", "180"], 180);

    let out = maqet_ok(home, &["exec", vm, "--", "cat", "/etc/debian_version"]);
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        version.starts_with("12."),
        "the guest's /etc/debian_version is {version:?}, not Debian 12"
    );
    let out = maqet_ok(home, &["exec", vm, "--", "cat", "/etc/machine-id"]);
    let machine_id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        machine_id.len(),
        32,
        "systemd made no machine id at first boot: {machine_id:?}"
    );

    let stopped = maqet_json(home, &["stop", vm, "--timeout", "180"]);
    assert_eq!(
        stopped["method"], "acpi",
        "Debian powers off on the ACPI power button: {stopped}"
    );
}

#[test]
fn debian_guest_from_a_url_boots_to_login_and_runs_commands_through_its_agent() {
    let image = debian_guest();
    let digest = sha256_of_file(&image);
    let server = TestHttpServer::start();
    server.serve_file("/debian-12.qcow2", &image);
    let home = MaqetHome::new();
    let storage = format!(
        "  - name: hdd\n    type: qcow2\n    from: {}\n    sha256: {digest}\n    size: 4G\n",
        server.url("/debian-12.qcow2"),
    );
    add(&home, "deb", &debian_vm_yaml("deb", &storage));
    boot_to_login_and_exec(&home, "deb");

    // The disk is a 4 GiB overlay on the cached copy, which the cache knows it is used by.
    let info = maqet_json(&home, &["storage-info", "deb"]);
    let drive = &info["drives"][0];
    let cached = home
        .path()
        .join("xdg/cache/maqet/images/sha256")
        .join(&digest);
    assert_eq!(
        drive["backing_file"],
        cached.to_string_lossy().as_ref(),
        "{info}"
    );
    assert_eq!(drive["virtual_size"], 4u64 << 30, "{info}");
    let listing = maqet_json(&home, &["image", "ls"]);
    assert_eq!(listing["images"][0]["digest"], digest.as_str(), "{listing}");
    assert_eq!(
        listing["images"][0]["used_by"][0], drive["resolved_path"],
        "{listing}"
    );
    let err = fails_with(&home, &["image", "rm", &digest], 3);
    assert!(err.contains("is the backing file of"), "{err}");
    assert_eq!(server.requests_for("/debian-12.qcow2").len(), 1);

    // A stop right after the agent answers (the Python Quick Start's shape): qemu-ga is up
    // before logind listens for the power button, so the first press may be lost; the stop
    // must still be graceful (pressed again, or asked through the agent), never a forced quit.
    maqet_ok(&home, &["start", "deb"]);
    maqet_slow(&home, &["wait", "deb", "--agent", "--timeout", "400"], 400);
    let stopped = maqet_json(&home, &["stop", "deb", "--timeout", "180"]);
    assert_eq!(stopped["forced"], false, "{stopped}");
    assert!(
        stopped["method"] == "acpi" || stopped["method"] == "agent",
        "{stopped}"
    );

    // Removal with --clean-storage leaves nothing of the VM in the data directory.
    let vm_dir = home
        .path()
        .join("data/vms")
        .join(stopped["vm_id"].as_str().unwrap());
    assert!(vm_dir.exists(), "{}", vm_dir.display());
    maqet_ok(&home, &["rm", "deb", "--force", "--clean-storage"]);
    assert!(!vm_dir.exists(), "{} was left behind", vm_dir.display());
}
