//! Snapshots of a `tpm: true` VM say whether they hold the TPM's state (issue R): an offline
//! snapshot copies swtpm's state and loading it puts that state back (swtpm then runs on it),
//! a live one has it in QEMU's device state, a disk-only one of a running VM has none, and
//! deleting the snapshot deletes its copy. Real swtpm and QEMU under TCG, no guest OS.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use maqet_tests::MaqetHome;
use maqet_tests::cli::{add, maqet_json, maqet_ok, no_os_config, vm_data_dir};

fn require_swtpm() {
    let found = std::process::Command::new("swtpm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "swtpm is not installed: install the `swtpm` package (scripts/setup.sh does)"
    );
}

#[test]
fn snapshots_of_a_tpm_vm_say_whether_they_hold_its_state_and_offline_ones_restore_it() {
    require_swtpm();
    let home = MaqetHome::new();
    let extra =
        "machine: q35\ntpm: true\nstorage:\n  - name: hdd\n    type: qcow2\n    size: 16M\n";
    add(&home, "tpm", &no_os_config("tpm", extra));
    maqet_ok(&home, &["start", "tpm"]);
    let swtpm = maqet_json(&home, &["status", "tpm"])["tpm_pid"].clone();
    assert!(swtpm.is_u64(), "swtpm does not run: {swtpm}");

    // Running: a live snapshot holds the TPM in QEMU's state, a disk-only one does not.
    let live = maqet_json(
        &home,
        &["snapshot", "tpm", "create", "hdd", "running", "--live"],
    );
    assert_eq!(live["tpm_state"], "included", "{live}");
    let disk_only = maqet_json(&home, &["snapshot", "tpm", "create", "hdd", "disk-only"]);
    assert_eq!(disk_only["tpm_state"], "not-included", "{disk_only}");
    maqet_ok(&home, &["stop", "tpm", "--force"]);

    // Stopped: the snapshot copies swtpm's state, and loading it puts it back.
    let state = vm_data_dir(&home, "tpm")
        .join("tpm")
        .join("tpm2-00.permall");
    let original = std::fs::read(&state).expect("swtpm kept its state in the data directory");
    let created = maqet_json(&home, &["snapshot", "tpm", "create", "hdd", "before"]);
    assert_eq!(created["tpm_state"], "included", "{created}");
    let human = maqet_ok(&home, &["snapshot", "tpm", "create", "hdd", "again"]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("TPM state included"),
        "{human:?}"
    );
    std::fs::write(&state, b"not a TPM state").unwrap();
    let loaded = maqet_json(&home, &["snapshot", "tpm", "load", "hdd", "before"]);
    assert_eq!(loaded["tpm_state"], "included", "{loaded}");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        original,
        "loading the snapshot did not restore the TPM state"
    );
    // A snapshot made while the VM ran holds no copy: loading it offline leaves the TPM.
    let no_copy = maqet_json(&home, &["snapshot", "tpm", "load", "hdd", "disk-only"]);
    assert_eq!(no_copy["tpm_state"], "not-included", "{no_copy}");
    // swtpm runs on the restored state.
    maqet_ok(&home, &["start", "tpm"]);
    let status = maqet_json(&home, &["status", "tpm"]);
    assert!(status["tpm_pid"].is_u64(), "{status}");
    maqet_ok(&home, &["stop", "tpm", "--force"]);

    for name in ["before", "again"] {
        maqet_ok(&home, &["snapshot", "tpm", "delete", "hdd", name]);
    }
    let copies = vm_data_dir(&home, "tpm").join("tpm-snapshots");
    let left = std::fs::read_dir(&copies).map_or(0, Iterator::count);
    assert_eq!(left, 0, "deleted snapshots left TPM copies in {copies:?}");
}
