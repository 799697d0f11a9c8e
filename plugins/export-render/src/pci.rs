//! The PCI slots QEMU gives a maqet VM's devices, so an export can pin the same ones.
//!
//! maqet does not put `addr=` on its devices: QEMU hands out bus-0 slots itself, in the order
//! it creates devices. The guest notices the result: Linux names a NIC after its slot (`ens4`
//! is slot 4), and the network config cloud-init wrote names that NIC. libvirt assigns slots
//! in an order of its own, so a domain without `<address>` elements moves the NIC (and the
//! guest loses its network). [`PciPlan::from_argv`] replays QEMU's assignment over the command
//! line maqet runs (`qemu_argv` of `maqet info`):
//!
//! 1. the board's fixed slots: 0 (host bridge) and, on `pc`, 1 (PIIX3); on `q35`, 0x1f (ICH9);
//! 2. the default VGA card (unless `-nodefaults`, `-vga none` or a display `-device`);
//! 3. `-nic`/`-net nic` NICs, or the default NIC when the command line has no network option;
//! 4. every `-device` in command-line order: its own `addr=` when it has one, else the lowest
//!    free slot; devices on another bus (`bus=`) or not on PCI take none.
//!
//! A device driver this module does not know makes the plan [`PciPlan::uncertain`], because
//! it may or may not take a slot; the export then says the slots may differ.

use crate::options::split_parts;

/// One device QEMU puts on PCI bus 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciEntry {
    /// The QEMU driver (`virtio-net-pci`, `VGA`), or `nic` for a `-nic`/`-net nic` NIC.
    pub driver: String,
    /// The device's `id=`, when it has one.
    pub id: Option<String>,
    /// Whether it is a NIC.
    pub nic: bool,
    /// Its slot on bus 0.
    pub slot: u8,
}

/// The bus-0 slots of one VM's devices; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PciPlan {
    /// The devices, in the order QEMU creates them.
    pub entries: Vec<PciEntry>,
    /// Drivers the plan does not know (they may have shifted later slots).
    pub uncertain: Vec<String>,
}

/// Drivers that sit on PCI besides `*-pci` and `virtio-*`.
const PCI_DRIVERS: &[&str] = &[
    "e1000",
    "e1000e",
    "e1000-82544gc",
    "e1000-82545em",
    "rtl8139",
    "ne2k_pci",
    "pcnet",
    "i82551",
    "i82557b",
    "i82559er",
    "vmxnet3",
    "ahci",
    "ich9-ahci",
    "qemu-xhci",
    "nec-usb-xhci",
    "usb-ehci",
    "ich9-usb-ehci1",
    "ich9-usb-ehci2",
    "ich9-usb-uhci1",
    "ich9-usb-uhci2",
    "ich9-usb-uhci3",
    "VGA",
    "cirrus-vga",
    "qxl-vga",
    "qxl",
    "vmware-svga",
    "secondary-vga",
    "bochs-display",
    "intel-hda",
    "ich9-intel-hda",
    "AC97",
    "ES1370",
    "i6300esb",
    "megasas",
    "megasas-gen2",
    "lsi53c895a",
    "lsi53c810",
    "am53c974",
    "dc390",
    "mptsas1068",
    "pvscsi",
    "nvme",
    "ivshmem-plain",
    "ivshmem-doorbell",
    "pci-bridge",
    "pcie-root-port",
    "ioh3420",
    "x3130-upstream",
    "pxb",
    "pxb-pcie",
    "pci-serial",
    "pci-serial-2x",
    "pci-serial-4x",
    "edu",
];

/// Drivers that never take a PCI slot (they sit on another bus).
const OTHER_BUS_PREFIXES: &[&str] = &[
    "usb-",
    "scsi-",
    "ide-",
    "isa-",
    "hda-",
    "tpm-",
    "virtserialport",
    "virtconsole",
    "floppy",
    "nvme-ns",
    "pc-dimm",
    "nvdimm",
    "pvpanic",
    "sga",
    "intel-iommu",
    "amd-iommu",
    "loader",
    "i8042",
    "kvmclock",
];

/// Display devices: any of them replaces QEMU's default VGA card.
const DISPLAY_DRIVERS: &[&str] = &[
    "VGA",
    "cirrus-vga",
    "qxl-vga",
    "virtio-vga",
    "virtio-vga-gl",
    "vmware-svga",
    "bochs-display",
    "ramfb",
    "virtio-gpu-pci",
];

/// Whether `driver` takes a PCI slot: `Some(true)`, `Some(false)`, or `None` when unknown.
pub fn is_pci(driver: &str) -> Option<bool> {
    if driver.ends_with("-pci")
        || PCI_DRIVERS.contains(&driver)
        || (driver.starts_with("virtio-") && !driver.ends_with("-device"))
    {
        return Some(true);
    }
    if OTHER_BUS_PREFIXES.iter().any(|p| driver.starts_with(p)) || driver.ends_with("-device") {
        return Some(false);
    }
    None
}

/// `addr=4`, `addr=0x4`, `addr=04.0`: the slot.
fn parse_addr(text: &str) -> Option<u8> {
    let slot = text.split('.').next()?;
    let slot = slot.strip_prefix("0x").unwrap_or(slot);
    u8::from_str_radix(slot, 16).ok().filter(|s| *s < 32)
}

/// The first part of a QEMU option value (the driver or backend name), empty when there is none.
fn first_part(value: &str) -> String {
    split_parts(value)
        .into_iter()
        .next()
        .map(|(name, _)| name)
        .unwrap_or_default()
}

fn get(parts: &[(String, Option<String>)], key: &str) -> Option<String> {
    parts
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.clone())
}

struct Slots([bool; 32]);

impl Slots {
    fn take(&mut self) -> Option<u8> {
        let free = (1..32u8).find(|s| !self.0[usize::from(*s)])?;
        self.0[usize::from(free)] = true;
        Some(free)
    }
}

impl PciPlan {
    /// Replays QEMU's slot assignment over `argv` (the binary first, then its options).
    pub fn from_argv(argv: &[String], q35: bool) -> Self {
        let options = split_options(argv);
        let has = |name: &str| options.iter().any(|(n, _)| n == name);
        let mut used = [false; 32];
        used[0] = true;
        used[if q35 { 0x1f } else { 1 }] = true;
        let mut slots = Slots(used);
        let mut plan = Self::default();
        let nodefaults = has("nodefaults");

        let vga_option = options
            .iter()
            .rev()
            .find(|(n, _)| n == "vga")
            .map(|(_, v)| v.clone().unwrap_or_default());
        let display_device = options.iter().any(|(n, v)| {
            n == "device"
                && v.as_deref()
                    .map(first_part)
                    .is_some_and(|d| DISPLAY_DRIVERS.contains(&d.as_str()))
        });
        let vga = match vga_option.as_deref() {
            Some("none") => false,
            Some(_) => true,
            None => !nodefaults && !display_device,
        };
        if vga && let Some(slot) = slots.take() {
            plan.push("VGA", None, false, slot);
        }

        let mut network_option = false;
        for (name, value) in &options {
            let value = value.as_deref().unwrap_or_default();
            let first = first_part(value);
            match name.as_str() {
                "netdev" => network_option = true,
                "nic" | "net" => {
                    network_option = true;
                    let board_nic =
                        (name == "nic" && first != "none") || (name == "net" && first == "nic");
                    if board_nic && let Some(slot) = slots.take() {
                        plan.push("nic", None, true, slot);
                    }
                }
                _ => {}
            }
        }
        if !network_option
            && !nodefaults
            && let Some(slot) = slots.take()
        {
            plan.push("nic", None, true, slot);
        }

        for (name, value) in &options {
            if name != "device" {
                continue;
            }
            let parts = split_parts(value.as_deref().unwrap_or_default());
            let driver = parts[0].0.clone();
            let id = get(&parts, "id");
            if get(&parts, "bus").is_some_and(|b| b != "pci.0" && b != "pcie.0") {
                continue;
            }
            let nic = get(&parts, "netdev").is_some();
            if let Some(slot) = get(&parts, "addr").as_deref().and_then(parse_addr) {
                slots.0[usize::from(slot)] = true;
                plan.push(&driver, id, nic, slot);
                continue;
            }
            match is_pci(&driver) {
                Some(true) => {
                    if let Some(slot) = slots.take() {
                        plan.push(&driver, id, nic, slot);
                    }
                }
                Some(false) => {}
                None => plan.uncertain.push(driver),
            }
        }
        if options
            .iter()
            .any(|(n, v)| n == "drive" && v.as_deref().is_some_and(|v| v.contains("if=virtio")))
        {
            plan.uncertain.push("-drive if=virtio".to_owned());
        }
        plan
    }

    fn push(&mut self, driver: &str, id: Option<String>, nic: bool, slot: u8) {
        self.entries.push(PciEntry {
            driver: driver.to_owned(),
            id,
            nic,
            slot,
        });
    }

    /// The slot of the device with `id=`.
    pub fn by_id(&self, id: &str) -> Option<u8> {
        self.entries
            .iter()
            .find(|e| e.id.as_deref() == Some(id))
            .map(|e| e.slot)
    }

    /// The slot of the first device whose driver starts with `prefix`.
    pub fn by_driver(&self, prefix: &str) -> Option<u8> {
        self.entries
            .iter()
            .find(|e| e.driver.starts_with(prefix))
            .map(|e| e.slot)
    }

    /// The slot of the default or `-vga` card.
    pub fn video(&self) -> Option<u8> {
        self.entries
            .iter()
            .find(|e| e.driver == "VGA" && e.id.is_none())
            .map(|e| e.slot)
    }

    /// The slot of the `index`-th NIC, in QEMU's creation order.
    pub fn nic(&self, index: usize) -> Option<u8> {
        self.entries
            .iter()
            .filter(|e| e.nic)
            .nth(index)
            .map(|e| e.slot)
    }

    /// Whether no device was seen at all (no command line to replay).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `(option name without dashes, value)` pairs; flags without a value get `None`.
fn split_options(argv: &[String]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut index = 1;
    while index < argv.len() {
        let arg = &argv[index];
        index += 1;
        let Some(name) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        let value = argv
            .get(index)
            .filter(|next| !next.starts_with('-'))
            .cloned();
        if value.is_some() {
            index += 1;
        }
        out.push((name.to_owned(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn maqet_test_guest_with_ports_and_agent() {
        // As `maqet info` shows it: VGA 2, disk 3, NIC 4, agent serial 5 (checked with
        // `info pci` and the guest's /sys/bus/pci).
        let plan = PciPlan::from_argv(
            &argv(
                "qemu -name x -m 256M -display none -kernel k -no-reboot \
                 -drive file=r,if=none,id=root.drive -device virtio-blk-pci,drive=root.drive,id=root \
                 -netdev user,id=maqet-net,hostfwd=tcp:127.0.0.1:2222-:22 \
                 -device virtio-net-pci,netdev=maqet-net -serial chardev:s \
                 -device virtio-serial-pci,id=maqet-qga-serial \
                 -device virtserialport,bus=maqet-qga-serial.0,name=org.qemu.guest_agent.0",
            ),
            false,
        );
        assert_eq!(plan.video(), Some(2));
        assert_eq!(plan.by_id("root"), Some(3));
        assert_eq!(plan.nic(0), Some(4));
        assert_eq!(plan.by_id("maqet-qga-serial"), Some(5));
        assert!(plan.uncertain.is_empty());
    }

    #[test]
    fn defaults_explicit_addresses_and_unknown_drivers() {
        let plan = PciPlan::from_argv(
            &argv("qemu -netdev user,id=n -device e1000,addr=0x5,netdev=n -device ahci,id=a"),
            false,
        );
        assert_eq!(plan.video(), Some(2));
        assert_eq!(plan.nic(0), Some(5), "{plan:?}");
        assert_eq!(plan.by_id("a"), Some(3));
        // No network option: QEMU's default NIC takes the slot after the VGA card.
        let plan = PciPlan::from_argv(&argv("qemu -m 64M"), false);
        assert_eq!(plan.nic(0), Some(3));
        let plan = PciPlan::from_argv(&argv("qemu -nodefaults -device frobnicator"), true);
        assert!(plan.video().is_none() && plan.nic(0).is_none());
        assert_eq!(plan.uncertain, vec!["frobnicator".to_owned()]);
        let plan = PciPlan::from_argv(&argv("qemu -M q35 -vga none -nic user,model=virtio"), true);
        assert_eq!(plan.nic(0), Some(1));
        assert_eq!(parse_addr("0x1f.0"), Some(31));
        assert_eq!(parse_addr("zz"), None);
    }
}
