//! The Rust API: a session guard stops the VMs it started when it goes out of scope.

use maqet_core::api::WaitCondition;
use maqet_core::{Maqet, VmStatus};
use maqet_tests::{MaqetHome, READY_BANNER, guest_config_yaml, maqet_runner_binary};

#[test]
fn session_guard_stops_its_vms_on_drop_and_call_by_name_works() {
    let home = MaqetHome::new();
    let maqet = Maqet::builder()
        .data_dir(home.data_dir())
        .config_dir(home.config_dir())
        .runtime_dir(home.runtime_dir())
        .runner_path(maqet_runner_binary())
        .build()
        .unwrap();
    let cfg = home.write_config("api", &guest_config_yaml("api", ""));
    maqet.add().config(cfg).send().unwrap();

    let qemu_pid = {
        let session = maqet.session();
        let started = session.start("api").unwrap();
        let pid = started.vm.pid.expect("a running VM has a QEMU pid");
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        // The same command by name with JSON arguments, as plugins call it.
        let reply = session
            .call(
                "qmp",
                serde_json::json!({"vm": "api", "command": "query-status"}),
            )
            .unwrap();
        assert_eq!(reply["status"], "running");
        // Booted guests power off on ACPI within milliseconds, so the drop stops it gracefully.
        session
            .wait("api", WaitCondition::Serial(READY_BANNER.into()))
            .timeout(60.0)
            .send()
            .unwrap();
        pid
    };

    let status = maqet.status("api").send().unwrap();
    assert_eq!(status.status, VmStatus::Stopped, "{status:?}");
    assert!(
        !std::path::Path::new(&format!("/proc/{qemu_pid}/stat")).exists()
            || std::fs::read_to_string(format!("/proc/{qemu_pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
    );
}
