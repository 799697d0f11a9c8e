//! A VM as the exporters see it: the parts of `maqet info VM` they render, in plain types.
//!
//! [`VmView::from_info`] reads the config keys and storage here; the `arguments` and `args`
//! options are folded in by [`crate::model`].

use serde_json::{Map, Value};

use crate::error::ExportError;
use crate::model;
use crate::options::{self, QemuOption};
use crate::pci::PciPlan;
use crate::vm_storage::{read_disks, read_ports, read_shared_dirs};
use maqet_config::{ConfigError, VmConfig};

/// Which bus a drive hangs off (maqet's storage `interface`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    /// virtio-blk (`interface: virtio`).
    Virtio,
    /// AHCI (`sata`).
    Sata,
    /// IDE (`ide`).
    Ide,
    /// virtio-scsi (`scsi`, and cdroms on `virtio`).
    Scsi,
}

/// A disk or cdrom image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The drive's name in maqet.
    pub name: String,
    /// The image file (maqet's default `<data_dir>/<name>.qcow2` when the config has none).
    pub file: String,
    /// `qcow2` or `raw`.
    pub format: String,
    /// The bus.
    pub bus: Bus,
    /// A cdrom rather than a disk.
    pub cdrom: bool,
    /// Attached read-only.
    pub readonly: bool,
    /// maqet's `cache` mode.
    pub cache: Option<String>,
    /// The size maqet creates the image with when it is missing.
    pub size: Option<String>,
    /// The backing image of an overlay.
    pub backing_file: Option<String>,
    /// The file was named by the user (not created by maqet in its data directory).
    pub user_file: bool,
    /// `(pool, volume)` once deployed: the disk is that libvirt volume instead of `file`.
    pub volume: Option<(String, String)>,
}

/// A host directory shared over virtio-9p (maqet's `virtfs` storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedDir {
    /// The drive's name in maqet (QEMU's device id).
    pub name: String,
    /// The host directory.
    pub path: String,
    /// The tag the guest mounts.
    pub mount_tag: String,
    /// maqet's `security_model`.
    pub security_model: String,
    /// Shared read-only.
    pub readonly: bool,
}

/// A forwarded port (maqet's `ports` key or a user netdev's `hostfwd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    /// `tcp` or `udp`.
    pub proto: String,
    /// The host address to listen on, when one is given.
    pub host_addr: Option<String>,
    /// The host port.
    pub host: u16,
    /// The guest port.
    pub guest: u16,
}

/// A NIC on QEMU's user-mode network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// The NIC model as libvirt names it (`virtio`, `e1000`, `e1000e`, `rtl8139`).
    pub model: String,
    /// Its MAC address, when the config sets one.
    pub mac: Option<String>,
    /// Ports forwarded to it.
    pub forwards: Vec<PortForward>,
}

/// The display backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Display {
    /// No display (`none`, `-nographic`).
    None,
    /// A VNC server on display number `display` (port 5900 + it).
    Vnc {
        /// The address to listen on.
        listen: Option<String>,
        /// The VNC display number.
        display: u16,
    },
    /// SPICE.
    Spice,
    /// A local window (`gtk`, `sdl`).
    Sdl,
    /// Rendering without a window (`egl-headless`).
    EglHeadless,
}

/// The guest CPU model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuModel {
    /// `-cpu host`.
    HostPassthrough,
    /// `-cpu max`.
    Maximum,
    /// A named model with `+feature`/`-feature` flags.
    Named {
        /// The model (`Skylake-Client`).
        model: String,
        /// `(feature, enabled)`.
        features: Vec<(String, bool)>,
    },
}

/// CPU topology from `-smp sockets=..,cores=..,threads=..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// Sockets.
    pub sockets: u64,
    /// Cores per socket.
    pub cores: u64,
    /// Threads per core.
    pub threads: u64,
}

/// A VM as the exporters see it.
#[derive(Debug, Clone, PartialEq)]
pub struct VmView {
    /// The VM's name.
    pub name: String,
    /// maqet's id for it.
    pub vm_id: String,
    /// maqet's data directory for the VM.
    pub data_dir: Option<String>,
    /// The QEMU binary.
    pub binary: Option<String>,
    /// Memory in KiB.
    pub memory_kib: u64,
    /// Virtual CPUs.
    pub cpus: u64,
    /// CPU topology, when given.
    pub topology: Option<Topology>,
    /// The CPU model, when given.
    pub cpu_model: Option<CpuModel>,
    /// The machine type (`q35`, `pc`...).
    pub machine: Option<String>,
    /// Uses KVM.
    pub kvm: bool,
    /// The display.
    pub display: Display,
    /// The video card as libvirt names it (`vga`, `virtio`, `none`...).
    pub video: Option<String>,
    /// Direct kernel boot: the kernel.
    pub kernel: Option<String>,
    /// The initrd for direct kernel boot.
    pub initrd: Option<String>,
    /// The kernel command line.
    pub append: Option<String>,
    /// A device tree blob.
    pub dtb: Option<String>,
    /// A firmware image (`-bios`).
    pub bios: Option<String>,
    /// Boot devices in order (`hd`, `cdrom`, `network`, `fd`).
    pub boot: Vec<String>,
    /// `-rtc base=utc|localtime`.
    pub clock: Option<String>,
    /// `-no-reboot`: a guest reboot ends the VM.
    pub no_reboot: bool,
    /// `-nodefaults`: no default video card or NIC.
    pub nodefaults: bool,
    /// Disks and cdroms, in config order.
    pub disks: Vec<Disk>,
    /// Shared directories.
    pub shared_dirs: Vec<SharedDir>,
    /// NICs on user-mode networking.
    pub nics: Vec<Nic>,
    /// maqet's `ports` key.
    pub ports: Vec<PortForward>,
    /// maqet's `guest_agent` key.
    pub guest_agent: bool,
    /// maqet's `firmware: uefi`: libvirt selects UEFI firmware (`<os firmware='efi'>`).
    pub uefi: bool,
    /// maqet's `secure_boot`: firmware with Secure Boot and keys enrolled, SMM on.
    pub secure_boot: bool,
    /// maqet's `tpm`: an emulated TPM 2.0 (swtpm under libvirt too).
    pub tpm: bool,
    /// The VM's own UEFI variable store (maqet's qcow2), once its first start has made it.
    pub nvram_source: Option<String>,
    /// A virtio RNG fed from /dev/urandom.
    pub rng: bool,
    /// A virtio memory balloon.
    pub balloon: bool,
    /// USB input devices (`tablet`, `keyboard`, `mouse`).
    pub usb_inputs: Vec<String>,
    /// A USB controller model (`qemu-xhci`, `piix3-uhci`...), when one is asked for.
    pub usb_controller: Option<String>,
    /// No networking at all (`-nic none`, `-net none`).
    pub no_network: bool,
    /// Options with no libvirt model: passed through verbatim, with a warning.
    pub passthrough: Vec<QemuOption>,
    /// The PCI slots QEMU gives the devices under maqet (empty without `qemu_argv`).
    pub pci: PciPlan,
}

impl VmView {
    /// Reads the JSON of `maqet info VM`.
    pub fn from_info(info: &Value) -> Result<Self, ExportError> {
        let name = info["name"].as_str().unwrap_or_default().to_owned();
        let problem = |problem: String| ExportError::Config {
            vm: name.clone(),
            problem,
        };
        let empty = Map::new();
        // `run_config`: the config as maqet starts the VM (first-boot seed and SSH forward).
        let config = info["run_config"]
            .as_object()
            .or_else(|| info["config_data"].as_object())
            .or_else(|| info["config"].as_object())
            .unwrap_or(&empty);
        let config = VmConfig::from_value_checked(&Value::Object(config.clone()))
            .map_err(|err| problem(config_problem(&err)))?;
        let data_dir = info["data_dir"].as_str().map(str::to_owned);

        // QEMU's default when a config gives no memory.
        let memory_kib = config.memory.map_or(128 * 1024, |m| m.bytes() / 1024);
        let cpus = config.cpu.map_or(1, u64::from);
        let mut vm = Self {
            name: name.clone(),
            vm_id: info["vm_id"].as_str().unwrap_or_default().to_owned(),
            data_dir: data_dir.clone(),
            binary: config.binary.clone(),
            memory_kib,
            cpus,
            topology: None,
            cpu_model: None,
            machine: None,
            kvm: false,
            display: Display::None,
            video: None,
            kernel: None,
            initrd: None,
            append: None,
            dtb: None,
            bios: None,
            boot: Vec::new(),
            clock: None,
            no_reboot: false,
            nodefaults: false,
            disks: read_disks(&config, data_dir.as_deref(), &problem)?,
            shared_dirs: read_shared_dirs(&config, &problem)?,
            nics: Vec::new(),
            ports: read_ports(&config),
            guest_agent: config.guest_agent,
            uefi: config.firmware == maqet_config::Firmware::Uefi,
            secure_boot: config.secure_boot,
            tpm: config.tpm,
            nvram_source: None,
            rng: false,
            balloon: false,
            usb_inputs: Vec::new(),
            usb_controller: None,
            no_network: false,
            passthrough: Vec::new(),
            pci: PciPlan::default(),
        };

        // Top-level keys first, as QEMU gets them, then `arguments`, then raw `args`.
        let mut all = Vec::new();
        for (value, option) in [
            (&config.machine, "machine"),
            (&config.accel, "accel"),
            (&config.display, "display"),
            (&config.vga, "vga"),
        ] {
            if let Some(value) = value.clone() {
                all.push(QemuOption {
                    name: option.to_owned(),
                    value: Some(value.clone()),
                    argv: vec![format!("-{option}"), value],
                });
            }
        }
        all.extend(options::from_arguments(Some(&Value::Array(
            config.arguments.clone(),
        ))));
        all.extend(options::from_raw_args(&config.args));
        let user_net = model::apply_options(&mut vm, all).map_err(problem)?;
        model::add_qemu_defaults(&mut vm, user_net);
        if vm.uefi {
            let firmware = &info["firmware"];
            if firmware["nvram_exists"].as_bool() == Some(true) {
                vm.nvram_source = firmware["nvram"].as_str().map(str::to_owned);
            }
        }
        if vm.uefi && vm.machine.is_none() {
            // maqet gives a UEFI VM without `machine` a q35.
            vm.machine = Some("q35".to_owned());
        }
        let argv: Vec<String> = info["qemu_argv"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        if !argv.is_empty() {
            let q35 = vm.machine_or_default().starts_with("q35");
            vm.pci = PciPlan::from_argv(&argv, q35);
        }
        Ok(vm)
    }

    /// Memory in MiB, rounded up.
    pub fn memory_mib(&self) -> u64 {
        self.memory_kib.div_ceil(1024)
    }

    /// The machine type QEMU uses when none is set (for x86: `pc`).
    pub fn machine_or_default(&self) -> &str {
        self.machine.as_deref().unwrap_or("pc")
    }
}

/// What is wrong with a config key, without the "merged config" place (an export reads
/// `maqet info`, not a file).
fn config_problem(err: &ConfigError) -> String {
    match err {
        ConfigError::Invalid { field, message, .. } => format!("`{field}`: {message}"),
        ConfigError::Storage { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// Parses a QEMU memory size (`256M`, `2G`, `1024` = MiB) into KiB.
pub fn parse_memory_kib(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.strip_suffix(['b', 'B']).unwrap_or(text);
    let text = text.strip_suffix('i').unwrap_or(text);
    let (digits, unit_kib) = match text.chars().last()? {
        'k' | 'K' => (&text[..text.len() - 1], 1),
        'm' | 'M' => (&text[..text.len() - 1], 1024),
        'g' | 'G' => (&text[..text.len() - 1], 1024 * 1024),
        't' | 'T' => (&text[..text.len() - 1], 1024 * 1024 * 1024),
        _ => (text, 1024),
    };
    let kib = digits.parse::<u64>().ok()?.checked_mul(unit_kib)?;
    (kib > 0).then_some(kib)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memory_sizes_parse_to_kib() {
        assert_eq!(parse_memory_kib("256M"), Some(262_144));
        assert_eq!(parse_memory_kib("2G"), Some(2_097_152));
        assert_eq!(parse_memory_kib("2GiB"), Some(2_097_152));
        assert_eq!(parse_memory_kib("512"), Some(524_288));
        assert_eq!(parse_memory_kib("lots"), None);
        assert_eq!(parse_memory_kib("0M"), None);
    }

    #[test]
    fn bad_memory_is_reported_with_the_vm_name() {
        let info = json!({"name": "web", "config": {"memory": "much"}});
        let err = VmView::from_info(&info).unwrap_err().to_string();
        assert!(err.contains("web") && err.contains("much"), "{err}");
    }

    #[test]
    fn a_drive_without_file_lives_in_the_data_dir() {
        let info = json!({"name": "web", "data_dir": "/d/vms/web",
            "config": {"storage": [{"name": "root", "size": "1G"}]}});
        let vm = VmView::from_info(&info).unwrap();
        assert_eq!(vm.disks[0].file, "/d/vms/web/root.qcow2");
        assert!(!vm.disks[0].user_file);
    }

    #[test]
    fn the_config_as_started_is_exported_with_its_seed_and_ssh_forward() {
        let seed = json!({"name": "maqet-cidata", "type": "raw", "file": "/d/seed.iso",
            "media": "disk", "readonly": true, "interface": "virtio"});
        let info = json!({"name": "deb", "data_dir": "/d",
            "config_data": {"cloud_init": true, "storage": [{"name": "hdd", "size": "4G"}]},
            "run_config": {"cloud_init": true,
                "storage": [{"name": "hdd", "size": "4G"}, seed],
                "ports": [{"host": 41234, "guest": 22}]}});
        let vm = VmView::from_info(&info).unwrap();
        assert_eq!(vm.disks.len(), 2);
        assert_eq!(vm.disks[1].file, "/d/seed.iso");
        assert_eq!(vm.ports.len(), 1);
        assert_eq!(vm.nics.len(), 1, "one NIC, with the forward");
        assert_eq!(vm.nics[0].model, "virtio");
    }

    #[test]
    fn bad_ports_are_refused() {
        let info = json!({"name": "web", "config": {"ports": [{"host": 70000, "guest": 22}]}});
        let err = VmView::from_info(&info).unwrap_err().to_string();
        assert!(err.contains("ports[0]") && err.contains("`host`"), "{err}");
    }
}
