//! Three VMs at once from tokio tasks: one `Maqet` handle, cloned into each task, starts its VM,
//! asks QEMU for the run state over QMP, and stops it; nothing blocks the runtime (every
//! command is `.await`ed).
//!
//! It boots maqet's small test guest (a kernel and a busybox initramfs); build it and export
//! the two paths it prints, then run the example from the workspace root:
//!
//! ```text
//! export $(bash tests/guest/build-guest.sh | grep -E '^(KERNEL|INITRD)=')
//! cargo build -p maqet-runner
//! MAQET_RUNNER=target/debug/maqet-runner cargo run -p maqet-core --example async_fleet
//! ```
//!
//! `KERNEL` and `INITRD` name the guest's kernel and initramfs; `MAQET_RUNNER` the runner to
//! start VMs with (without it, maqet looks next to the example binary and on PATH). The VMs
//! live in a temporary directory that is removed at the end.

use maqet_core::{Maqet, MaqetError};

/// A VM config booting the kernel and initramfs named by `KERNEL` and `INITRD`.
fn guest_config(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    let path = |key: &str| {
        std::env::var(key).map_err(|_| {
            format!("set {key} to the test guest's file (see the top of examples/async_fleet.rs)")
        })
    };
    // JSON strings are valid YAML scalars, so paths with any characters stay one value.
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    Ok(format!(
        "name: {name}\nbinary: qemu-system-x86_64\nmemory: 256M\ncpu: 1\naccel: tcg\n\
         display: none\narguments:\n  - kernel: {}\n  - initrd: {}\n  \
         - append: \"console=ttyS0 panic=-1 quiet\"\n  - no-reboot: null\n",
        quote(&path("KERNEL")?),
        quote(&path("INITRD")?),
    ))
}

/// One task's work: add, start, query and stop a VM, then remove it.
async fn run_one(maqet: Maqet, config: std::path::PathBuf) -> Result<String, MaqetError> {
    let vm_id = maqet.add().config(&config).await?.into_vm_id();
    maqet.start(&vm_id).await?;
    let reply = maqet.qmp(&vm_id, "query-status").await?;
    let stopped = maqet.stop(&vm_id).force(true).await?;
    maqet.rm().vm(&vm_id).force(true).await?;
    Ok(format!(
        "{}: QEMU said {}, stopped by {:?}",
        stopped.vm.name, reply.0["status"], stopped.method
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let home = tempfile::tempdir()?;
    let maqet = Maqet::builder()
        .data_dir(home.path().join("data"))
        .runtime_dir(home.path().join("run"))
        .config_dir(home.path().join("config"))
        .build()?;

    let mut tasks = tokio::task::JoinSet::new();
    for n in 1..=3 {
        let name = format!("fleet-{n}");
        let config = home.path().join(format!("{name}.yaml"));
        std::fs::write(&config, guest_config(&name)?)?;
        // A clone is an `Arc` bump; all three share the state database.
        tasks.spawn(run_one(maqet.clone(), config));
    }
    while let Some(done) = tasks.join_next().await {
        println!("{}", done??);
    }
    Ok(())
}
