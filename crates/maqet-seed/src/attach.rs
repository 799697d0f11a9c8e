//! Where a seed is attached so that the guest's kernel finds it.
//!
//! A read-only virtio-blk disk: every cloud kernel has virtio-blk built in (it boots from it),
//! and cloud-init's NoCloud source looks for a file system labelled `cidata` on any block
//! device. A machine without PCI (`isapc`) gets an IDE cdrom instead. Never SATA: AHCI is
//! missing from cloud kernels such as Debian's `linux-image-cloud-amd64`, whose cloud-init then
//! never sees the seed.

use serde_json::{Value, json};

/// The bus a seed goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedBus {
    /// A read-only `virtio-blk-pci` disk.
    Virtio,
    /// A read-only IDE cdrom.
    Ide,
}

impl SeedBus {
    /// The `interface` value of a maqet storage entry.
    pub fn interface(self) -> &'static str {
        match self {
            SeedBus::Virtio => "virtio",
            SeedBus::Ide => "ide",
        }
    }

    /// The `media` value of a maqet storage entry.
    pub fn media(self) -> &'static str {
        match self {
            SeedBus::Virtio => "disk",
            SeedBus::Ide => "cdrom",
        }
    }
}

/// The bus for a machine type as written in a config's `machine` (`q35`, `pc,accel=kvm`,
/// `type=isapc`); `None` is QEMU's default machine.
pub fn seed_bus(machine: Option<&str>) -> SeedBus {
    let kind = machine
        .and_then(|m| m.split(',').next())
        .map(|first| first.strip_prefix("type=").unwrap_or(first).trim());
    match kind {
        Some("isapc") => SeedBus::Ide,
        _ => SeedBus::Virtio,
    }
}

/// The maqet storage entry (as in a config's `storage` list) that attaches `file` read-only.
pub fn storage_entry(name: &str, file: &str, bus: SeedBus) -> Value {
    json!({
        "name": name,
        "type": "raw",
        "file": file,
        "media": bus.media(),
        "readonly": true,
        "interface": bus.interface(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_machines_get_virtio_and_isapc_ide_never_sata() {
        for machine in [
            None,
            Some("q35"),
            Some("pc"),
            Some("pc-i440fx-7.2,accel=tcg"),
            Some("type=q35"),
        ] {
            assert_eq!(seed_bus(machine), SeedBus::Virtio, "{machine:?}");
        }
        assert_eq!(seed_bus(Some("isapc")), SeedBus::Ide);
        assert_eq!(seed_bus(Some("type=isapc,accel=tcg")), SeedBus::Ide);
        let entry = storage_entry("cidata", "/d/seed.iso", SeedBus::Virtio);
        assert_eq!(entry["interface"], "virtio");
        assert_eq!(entry["readonly"], true);
        assert_ne!(storage_entry("c", "f", SeedBus::Ide)["interface"], "sata");
    }
}
