//! The `ls`, `status` and `info` tables of a VM that was just added and of one that runs.

use maqet_tests::cli::{maqet_json, no_os_config, status};
use maqet_tests::snapshot::Filters;
use maqet_tests::{MaqetHome, maqet_snapshot};

/// Adds `vm1`: no OS, TCG, a 1G qcow2 disk and two CPUs.
fn add_vm1(home: &MaqetHome) {
    let config = home.write_config(
        "vm1",
        &no_os_config(
            "vm1",
            "cpu: 2\nstorage:\n  - {name: hdd, type: qcow2, size: 1G}\n",
        ),
    );
    let path = config.to_string_lossy().into_owned();
    maqet_json(home, &["add", &path]);
}

#[test]
fn tables_of_a_vm_that_was_added() {
    let home = MaqetHome::new();
    maqet_snapshot!(name = "ls_no_vms", home, &["ls"]);
    add_vm1(&home);
    maqet_snapshot!(name = "ls_created", home, &["ls"]);
    maqet_snapshot!(name = "status_created", home, &["status", "vm1"]);
    maqet_snapshot!(name = "info_created", home, &["info", "vm1"]);
}

#[test]
fn tables_of_a_running_vm() {
    let home = MaqetHome::new();
    add_vm1(&home);
    maqet_json(&home, &["start", "vm1"]);
    let pid = status(&home, "vm1")["pid"].to_string();
    assert!(pid.parse::<u32>().is_ok(), "no QEMU pid: {pid}");
    let filters = || Filters::for_home(&home).word(&pid, "[PID]");
    maqet_snapshot!(name = "ls_running", filters = filters(), home, &["ls"]);
    maqet_snapshot!(
        name = "status_running",
        filters = filters(),
        home,
        &["status", "vm1"]
    );
    maqet_snapshot!(
        name = "info_running",
        filters = filters(),
        home,
        &["info", "vm1"]
    );
    maqet_json(&home, &["stop", "vm1", "--force"]);
    maqet_snapshot!(name = "ls_stopped", home, &["ls"]);
}
