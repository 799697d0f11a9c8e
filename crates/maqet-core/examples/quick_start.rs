//! The Python reference's Quick Start, line for line, in Rust.
//!
//! Run it in a directory holding a VM config `config.yaml`:
//! `cargo run -p maqet-core --example quick_start`. It uses maqet's default directories (the
//! XDG ones) and finds `maqet-runner` next to itself, in `$MAQET_RUNNER` or on PATH.

use maqet_core::{Maqet, MaqetError};

fn main() -> Result<(), MaqetError> {
    // Create MAQET instance
    let maqet = Maqet::new()?;

    // Create VM from config file
    let vm_id = maqet
        .add()
        .config("config.yaml")
        .name("myvm")
        .send()?
        .into_vm_id();

    // Start the VM
    maqet.start(&vm_id).send()?;

    // Get VM status
    let status = maqet.status(&vm_id).send()?;
    println!("VM {} is {}", status.name, status.status);

    // Stop the VM
    maqet.stop(&vm_id).send()?;

    // Remove the VM
    maqet.rm().vm(&vm_id).force(true).send()?;
    Ok(())
}
