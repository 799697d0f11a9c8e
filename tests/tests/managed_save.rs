//! Issue Q items 2 and 3 through the `maqet` CLI against real QEMU (TCG): `stop --save` writes
//! the guest's memory to a file and the next `start` brings the guest back where it was (a file
//! in its RAM-backed root survives, which a reboot would lose; its uptime runs on); `status`
//! says `saved`; a config change refuses the restore with exit 3 and keeps the image; the
//! disks' bytes and mtime do not change between save and restore; `snapshot` refuses to write
//! them meanwhile; the image is gone once restored; `start --fresh` boots anew; a damaged
//! image fails the restore (exit 1) and keeps the state. Named states
//! (`stop --save-as`) restore into throw-away runs (`start --ephemeral --from-state`) that
//! leave the base disk as it was. One test does a save and restore on the real Debian guest
//! with 1 GiB of RAM.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use maqet_tests::cli::{
    add, fails_with, guest_sh, maqet, maqet_json, maqet_ok, status, vm_data_dir,
};
use maqet_tests::{
    GUEST_KERNEL_APPEND, MaqetHome, debian_guest, guest_config_yaml_with_append, sha256_of_file,
};

/// Seconds a boot of the test guest may take under TCG on a busy machine.
const BOOT_WAIT: &str = "240";
/// Seconds the agent may take to answer after a restore: the guest is already up, so this is a
/// guard, not a timing.
const RESTORED_WAIT: &str = "60";

/// The test guest with its agent channel and a 64 MiB qcow2 data disk; `memory` overrides
/// the 256M of the base config when given.
fn guest_yaml(name: &str, memory: Option<&str>) -> String {
    let yaml = guest_config_yaml_with_append(
        name,
        GUEST_KERNEL_APPEND,
        "guest_agent: true\nstorage:\n  - {name: data, type: qcow2, size: 64M}\n",
    );
    match memory {
        Some(m) => yaml.replace("memory: 256M", &format!("memory: {m}")),
        None => yaml,
    }
}

fn start_guest(home: &MaqetHome, name: &str) {
    add(home, name, &guest_yaml(name, None));
    maqet_ok(home, &["start", name]);
    maqet_ok(home, &["wait", name, "--agent", "--timeout", BOOT_WAIT]);
}

/// A file's SHA-256 and modification time.
fn print_of(path: &Path) -> (String, SystemTime) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    (sha256_of_file(path), mtime)
}

fn uptime(home: &MaqetHome, vm: &str) -> f64 {
    let text = guest_sh(home, vm, "cat /proc/uptime");
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("/proc/uptime in the guest said {text:?}"))
}

fn disk_of(home: &MaqetHome, vm: &str) -> PathBuf {
    let disk = vm_data_dir(home, vm).join("data.qcow2");
    assert!(disk.is_file(), "{} is missing", disk.display());
    disk
}

#[test]
fn a_saved_guest_comes_back_where_it_was_and_a_changed_config_refuses_it() {
    let home = MaqetHome::new();
    start_guest(&home, "sv");
    let marker = "written-before-save-4711";
    guest_sh(
        &home,
        "sv",
        &format!("mkdir -p /tmp && echo {marker} > /tmp/save-marker"),
    );
    let before = uptime(&home, "sv");

    // Save: the status says `saved`, the image is in the data dir, QEMU is gone.
    let saved = maqet_json(&home, &["stop", "sv", "--save"]);
    assert_eq!(saved["method"], "saved", "{saved}");
    assert_eq!(saved["status"], "saved", "{saved}");
    assert_eq!(status(&home, "sv")["status"], "saved");
    let ls = maqet_json(&home, &["ls"]);
    assert!(ls.to_string().contains(r#""saved""#), "{ls}");
    let data = vm_data_dir(&home, "sv");
    let image = data.join("managed-save.state");
    assert!(image.is_file(), "no saved image at {}", image.display());
    let disk = disk_of(&home, "sv");
    let disk_at_save = print_of(&disk);

    // Nothing writes the disks meanwhile: `snapshot` refuses, a plain `stop` changes nothing.
    let refused = fails_with(&home, &["snapshot", "sv", "create", "data", "s1"], 3);
    assert!(refused.contains("saved state"), "{refused}");
    maqet_ok(&home, &["stop", "sv"]);
    assert_eq!(status(&home, "sv")["status"], "saved");

    // A config change refuses the restore, names both ways out, and keeps the image.
    let changed = home.write_config("sv-bigger.yaml", &guest_yaml("sv", Some("320M")));
    maqet_ok(&home, &["apply", "sv", &changed.to_string_lossy()]);
    let refused = fails_with(&home, &["start", "sv"], 3);
    assert!(refused.contains("--fresh"), "{refused}");
    assert!(refused.contains("revert the config"), "{refused}");
    assert!(
        refused.contains("320M"),
        "the refusal names the change: {refused}"
    );
    assert!(image.is_file(), "the refused restore removed the image");
    assert_eq!(status(&home, "sv")["status"], "saved");

    // Reverted, it restores: no reboot (the RAM file is there, uptime ran on), the disk was
    // not touched between save and restore, and the image is gone.
    let original = home.write_config("sv-original.yaml", &guest_yaml("sv", None));
    maqet_ok(&home, &["apply", "sv", &original.to_string_lossy()]);
    assert_eq!(
        print_of(&disk),
        disk_at_save,
        "the disk changed while saved"
    );
    let began = Instant::now();
    let restored = maqet_json(&home, &["start", "sv"]);
    maqet_ok(
        &home,
        &["wait", "sv", "--agent", "--timeout", RESTORED_WAIT],
    );
    eprintln!(
        "managed_save: restore to agent answering took {:.2} s",
        began.elapsed().as_secs_f64()
    );
    assert_eq!(restored["restored"], true, "{restored}");
    assert_eq!(restored["status"], "running", "{restored}");
    let seen = guest_sh(&home, "sv", "cat /tmp/save-marker");
    assert_eq!(seen.trim(), marker, "the guest lost its RAM: it rebooted");
    let after = uptime(&home, "sv");
    assert!(after >= before, "uptime went back from {before} to {after}");
    assert!(
        !image.exists(),
        "the image is still there after the restore"
    );
    assert!(!data.join("managed-save.json").exists());

    // Saved again (a restored QEMU saves like any), `--fresh` discards it and boots anew.
    let saved = maqet_json(&home, &["stop", "sv", "--save"]);
    assert_eq!(saved["status"], "saved", "{saved}");
    assert!(image.is_file());
    let fresh = maqet_json(&home, &["start", "sv", "--fresh"]);
    assert_eq!(fresh["restored"], false, "{fresh}");
    assert!(!image.exists(), "--fresh left the image");
    maqet_ok(&home, &["wait", "sv", "--agent", "--timeout", BOOT_WAIT]);
    let seen = guest_sh(&home, "sv", "cat /tmp/save-marker 2>/dev/null || echo gone");
    assert_eq!(seen.trim(), "gone", "--fresh did not boot anew");
    maqet_ok(&home, &["stop", "sv", "--force"]);
}

#[test]
fn a_named_state_restores_into_throwaway_runs_that_leave_the_disk_alone() {
    let home = MaqetHome::new();
    start_guest(&home, "base");
    guest_sh(
        &home,
        "base",
        "mkdir -p /tmp && echo booted > /tmp/base-marker",
    );
    let stopped = maqet_json(&home, &["stop", "base", "--save-as", "booted"]);
    assert_eq!(stopped["method"], "saved", "{stopped}");
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    let disk = disk_of(&home, "base");
    let disk_at_save = print_of(&disk);

    let refused = fails_with(&home, &["start", "base", "--from-state", "booted"], 3);
    assert!(refused.contains("--ephemeral"), "{refused}");
    let refused = fails_with(
        &home,
        &["start", "base", "--ephemeral", "--from-state", "nope"],
        3,
    );
    assert!(
        refused.contains("booted"),
        "the refusal lists the states: {refused}"
    );

    for run in 1..=2 {
        let began = Instant::now();
        let started = maqet_json(
            &home,
            &["start", "base", "--ephemeral", "--from-state", "booted"],
        );
        maqet_ok(
            &home,
            &["wait", "base", "--agent", "--timeout", RESTORED_WAIT],
        );
        eprintln!(
            "managed_save: throw-away run {run} answered {:.2} s after start",
            began.elapsed().as_secs_f64()
        );
        assert_eq!(started["restored"], true, "{started}");
        assert_eq!(started["ephemeral"], true, "{started}");
        let seen = guest_sh(
            &home,
            "base",
            "cat /tmp/base-marker; cat /tmp/run-marker 2>/dev/null || echo no-run-marker",
        );
        assert_eq!(
            seen.split_whitespace().collect::<Vec<_>>(),
            ["booted", "no-run-marker"],
            "run {run} did not start from the saved state alone"
        );
        // The guest writes its RAM and its disk; neither may outlive the run.
        let wrote = guest_sh(
            &home,
            "base",
            "echo run > /tmp/run-marker; for d in /dev/vda /dev/sda; do \
             [ -b $d ] && dd if=/dev/zero of=$d bs=4096 count=16 conv=fsync 2>/dev/null \
             && echo wrote $d; done; true",
        );
        assert!(
            wrote.contains("wrote /dev/"),
            "the guest found no disk to write: {wrote:?}"
        );
        maqet_ok(&home, &["stop", "base", "--force"]);
        assert_eq!(
            print_of(&disk),
            disk_at_save,
            "run {run} wrote the base disk"
        );
    }
    let state = vm_data_dir(&home, "base")
        .join("states")
        .join("booted.state");
    assert!(state.is_file(), "the named state was consumed");
    let orphans = maqet_json(&home, &["storage", "orphaned"]);
    assert!(
        !orphans.to_string().contains("booted"),
        "`storage orphaned` offers the VM's state: {orphans}"
    );
    maqet_ok(&home, &["rm", "base", "--clean-storage"]);
    assert!(
        !state.exists(),
        "`rm --clean-storage` left {}",
        state.display()
    );
}

#[test]
fn saving_a_vm_that_does_not_run_or_runs_ephemeral_is_refused() {
    let home = MaqetHome::new();
    add(&home, "idle", &guest_yaml("idle", None));
    let refused = fails_with(&home, &["stop", "idle", "--save"], 3);
    assert!(refused.contains("not running"), "{refused}");
    let refused = fails_with(&home, &["stop", "idle", "--save", "--force"], 3);
    assert!(refused.contains("--force"), "{refused}");
    let refused = fails_with(&home, &["stop", "idle", "--save-as", "../x"], 3);
    assert!(refused.contains("not a valid state name"), "{refused}");
    maqet_ok(&home, &["start", "idle", "--ephemeral"]);
    let refused = fails_with(&home, &["stop", "idle", "--save"], 3);
    assert!(refused.contains("--ephemeral"), "{refused}");
    assert_eq!(status(&home, "idle")["status"], "running");
    let image = vm_data_dir(&home, "idle").join("managed-save.state");
    assert!(!image.exists());
    maqet_ok(&home, &["stop", "idle", "--force"]);
}

#[test]
fn a_damaged_image_fails_the_restore_with_exit_1_and_keeps_the_state() {
    let home = MaqetHome::new();
    add(&home, "dm", &guest_yaml("dm", None));
    maqet_ok(&home, &["start", "dm"]);
    let saved = maqet_json(&home, &["stop", "dm", "--save"]);
    assert_eq!(saved["status"], "saved", "{saved}");
    let image = vm_data_dir(&home, "dm").join("managed-save.state");
    let len = std::fs::metadata(&image).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&image)
        .unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);

    let refused = fails_with(&home, &["start", "dm"], 1);
    eprintln!("managed_save: a damaged image: {refused}");
    assert!(refused.contains("restoring VM `dm`"), "{refused}");
    assert!(refused.contains("QEMU ended while loading it"), "{refused}");
    assert!(refused.contains("--fresh"), "{refused}");
    assert!(image.is_file(), "the failed restore removed the state");
    assert_eq!(status(&home, "dm")["status"], "saved");

    let fresh = maqet_json(&home, &["start", "dm", "--fresh"]);
    assert_eq!(fresh["status"], "running", "{fresh}");
    assert!(!image.exists(), "--fresh left the image");
    maqet_ok(&home, &["stop", "dm", "--force"]);
}

/// Seconds one Debian boot may take under TCG on a loaded 2-core machine.
const DEBIAN_BOOT_SECS: u64 = 900;

/// `maqet ARGS` allowed `secs` seconds, asserting success.
fn run_long(home: &MaqetHome, args: &[&str], secs: u64) -> std::process::Output {
    let out = home
        .cmd()
        .current_dir(home.path())
        .args(args)
        .timeout(Duration::from_secs(secs + 60))
        .output()
        .expect("the maqet binary must run");
    assert!(
        out.status.success(),
        "{}",
        maqet_tests::cli::describe(args, &out)
    );
    out
}

#[test]
fn the_debian_guest_with_1_gib_is_saved_and_restored_without_a_reboot() {
    let image = debian_guest();
    let home = MaqetHome::new();
    let overlay = home.path().join("deb.qcow2");
    let made = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&image)
        .arg(&overlay)
        .output()
        .expect("qemu-img runs");
    assert!(made.status.success(), "{made:?}");
    let yaml = format!(
        "memory: 1G\nguest_agent: true\nstorage:\n  - {{name: hdd, type: qcow2, file: {}}}\n",
        serde_json::Value::from(overlay.to_string_lossy().as_ref())
    );
    let config = home.write_config("deb.yaml", &yaml);
    maqet_ok(
        &home,
        &[
            "add",
            &config.to_string_lossy(),
            "--name",
            "deb",
            "--accel",
            "tcg",
        ],
    );
    run_long(&home, &["start", "deb"], 120);
    let secs = DEBIAN_BOOT_SECS.to_string();
    run_long(
        &home,
        &["wait", "deb", "--agent", "--timeout", &secs],
        DEBIAN_BOOT_SECS,
    );
    guest_sh(
        &home,
        "deb",
        "echo kept-in-ram > /dev/shm/maqet-save-marker",
    );

    let began = Instant::now();
    let saved = maqet_json(&home, &["stop", "deb", "--save"]);
    let save_secs = began.elapsed().as_secs_f64();
    assert_eq!(saved["status"], "saved", "{saved}");

    let began = Instant::now();
    maqet_json(&home, &["start", "deb"]);
    let out = maqet(
        &home,
        &["wait", "deb", "--agent", "--timeout", RESTORED_WAIT],
    );
    let restore_secs = began.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "the agent did not answer after the restore"
    );
    eprintln!(
        "managed_save: Debian 1 GiB save {save_secs:.2} s, restore to agent {restore_secs:.2} s"
    );
    let seen = guest_sh(&home, "deb", "cat /dev/shm/maqet-save-marker");
    assert_eq!(seen.trim(), "kept-in-ram", "the Debian guest rebooted");
    assert!(
        !vm_data_dir(&home, "deb")
            .join("managed-save.state")
            .exists(),
        "the image is still there after the restore"
    );
    maqet_ok(&home, &["stop", "deb", "--force"]);
}
