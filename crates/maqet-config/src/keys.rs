//! The VM config keys, declared once; [`crate::VmConfig`] has one field per row, in the same
//! order (a test compares them).
//!
//! From this table come the accepted YAML keys, the `add`/`apply` option flags,
//! `docs/configuration.md`, the JSON Schema (`maqet config schema`) and part of the QEMU
//! command line.

/// The value type of a config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    /// Free text.
    String,
    /// A program: a name looked up on PATH, or a path (taken against the caller's directory).
    Program,
    /// A VM name (`[A-Za-z0-9][A-Za-z0-9._-]*`, up to 64 characters).
    Name,
    /// A memory size such as `512M` or `4G` (a bare number means MiB, as for QEMU `-m`).
    Memory,
    /// A whole number of at least 1.
    Count,
    /// The structured QEMU option list.
    Arguments,
    /// Raw QEMU argv words.
    RawArgs,
    /// The drive list.
    Storage,
    /// `true` or `false`.
    Bool,
    /// The port-forward list (`{host, guest, proto, host_addr}` entries).
    Ports,
    /// How `stop` asks the guest to shut down: `acpi` or `agent`.
    ShutdownMethod,
    /// A guest user name (`[a-z_][a-z0-9_-]*`, up to 32 characters).
    UserName,
    /// A host name (dot-separated labels of letters, digits and `-`).
    Hostname,
    /// A list of SSH public key lines.
    SshKeys,
    /// cloud-init data: a mapping, or text used as it is.
    CloudData,
    /// The firmware: `bios` or `uefi`.
    Firmware,
}

/// How a key becomes QEMU arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuMapping {
    /// Not an argument (the VM name, the binary).
    None,
    /// `-<option> <value>`.
    Option(&'static str),
    /// Rendered by its own code (arguments, args, storage).
    Special,
}

/// One declared VM config key.
#[derive(Debug)]
pub struct ConfigKey {
    /// YAML key and `--flag` name.
    pub name: &'static str,
    /// Value type.
    pub kind: KeyType,
    /// Default, as text, when maqet supplies one.
    pub default: Option<&'static str>,
    /// One-line description.
    pub doc: &'static str,
    /// An example value as written in YAML.
    pub example: &'static str,
    /// The QEMU option it becomes.
    pub qemu: QemuMapping,
    /// QEMU options in `arguments` that set the same thing (a default is not added when one
    /// of them is present; setting both the key and one of them is an error).
    pub same_as: &'static [&'static str],
}

/// Every VM config key, in the order QEMU arguments are rendered.
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "name",
        kind: KeyType::Name,
        default: None,
        doc: "VM name; `--name` wins over it, and a generated `vm-xxxxxxxx` is used when neither is set.",
        example: "web",
        qemu: QemuMapping::None,
        same_as: &[],
    },
    ConfigKey {
        name: "binary",
        kind: KeyType::Program,
        default: Some("qemu-system-x86_64"),
        doc: "QEMU system emulator to run: a name looked up on PATH, or a path.",
        example: "/usr/bin/qemu-system-x86_64",
        qemu: QemuMapping::None,
        same_as: &[],
    },
    ConfigKey {
        name: "machine",
        kind: KeyType::String,
        default: None,
        doc: "Machine type and its properties (`-machine`).",
        example: "q35",
        qemu: QemuMapping::Option("machine"),
        same_as: &["machine", "M"],
    },
    ConfigKey {
        name: "accel",
        kind: KeyType::String,
        default: Some("kvm when /dev/kvm is usable, else tcg"),
        doc: "Accelerator (`-accel`): `kvm`, `tcg`, ...",
        example: "tcg",
        qemu: QemuMapping::Option("accel"),
        same_as: &["accel", "enable-kvm"],
    },
    ConfigKey {
        name: "memory",
        kind: KeyType::Memory,
        default: None,
        doc: "Guest RAM (`-m`): a size like `512M` or `4G`; a bare number is MiB, `B` bytes, `K` KiB (passed to QEMU exactly). At least 8K and a multiple of 8K, as QEMU allocates RAM in 8 KiB steps.",
        example: "2G",
        qemu: QemuMapping::Option("m"),
        same_as: &["m"],
    },
    ConfigKey {
        name: "cpu",
        kind: KeyType::Count,
        default: None,
        doc: "Number of virtual CPUs (`-smp`).",
        example: "2",
        qemu: QemuMapping::Option("smp"),
        same_as: &["smp"],
    },
    ConfigKey {
        name: "display",
        kind: KeyType::String,
        default: Some("none"),
        doc: "Display backend (`-display`): `none`, `gtk`, `vnc=:1`, ...",
        example: "none",
        qemu: QemuMapping::Option("display"),
        same_as: &["display", "nographic", "vnc"],
    },
    ConfigKey {
        name: "vga",
        kind: KeyType::String,
        default: None,
        doc: "Video card (`-vga`): `std`, `virtio`, `none`, ...",
        example: "std",
        qemu: QemuMapping::Option("vga"),
        same_as: &["vga"],
    },
    ConfigKey {
        name: "firmware",
        kind: KeyType::Firmware,
        default: Some("bios"),
        doc: "Firmware: `bios` (QEMU's built-in BIOS) or `uefi`, chosen from QEMU's firmware descriptors (`/usr/share/qemu/firmware`, the `ovmf` package) with the VM's own variable store (NVRAM, qcow2 in its data directory); a config without `machine` gets `q35`.",
        example: "uefi",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "secure_boot",
        kind: KeyType::Bool,
        default: Some("false"),
        doc: "With `firmware: uefi`: UEFI firmware with Secure Boot enforced (keys enrolled, SMM on); the guest must boot signed code (shim).",
        example: "true",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "tpm",
        kind: KeyType::Bool,
        default: Some("false"),
        doc: "An emulated TPM 2.0: the runner starts `swtpm` (state kept in the VM's data directory under `tpm/`) before QEMU and supervises it with QEMU; `tpm-crb` on q35, `tpm-tis` on other machines.",
        example: "true",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "pointer",
        kind: KeyType::String,
        default: None,
        doc: "Pointer device: `tablet` adds a USB tablet, which takes absolute positions (`qmp mouse-*`); `none` adds nothing.",
        example: "tablet",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "arguments",
        kind: KeyType::Arguments,
        default: None,
        doc: "QEMU options as a list: `{opt: value}`, `{opt: null}` for a flag, `{opt: {k: v}}` for `k=v` lists, or plain strings.",
        example: "[{device: virtio-rng-pci}, {no-reboot: null}]",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "args",
        kind: KeyType::RawArgs,
        default: None,
        doc: "Extra QEMU argv words, passed as they are.",
        example: "[\"-nodefaults\"]",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "storage",
        kind: KeyType::Storage,
        default: None,
        doc: "Drives: qcow2/raw disks, cdroms and virtfs shares (see the storage section).",
        example: "[{name: hdd, type: qcow2, size: 20G}]",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "guest_agent",
        kind: KeyType::Bool,
        default: Some("false"),
        doc: "Add a QEMU guest agent channel (virtio-serial port `org.qemu.guest_agent.0`) for `exec`, `cp`, `guest info` and `wait --agent`; the guest must run qemu-ga.",
        example: "true",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "copy_channel",
        kind: KeyType::Bool,
        default: Some("true"),
        doc: "With `guest_agent`, add a second virtio-serial port (`org.maqet.copy.0`) that `cp` streams file data through (`--via channel`, taken by `--via auto`); `false` leaves it out.",
        example: "false",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "ports",
        kind: KeyType::Ports,
        default: None,
        doc: "Host ports forwarded to the guest (`hostfwd` on the user-mode network; a `-netdev user` + `virtio-net-pci` is added when the config has no user netdev).",
        example: "[{host: 2222, guest: 22}, {host: 8053, guest: 53, proto: udp, host_addr: 127.0.0.1}]",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "shutdown_via",
        kind: KeyType::ShutdownMethod,
        default: Some("acpi"),
        doc: "How `stop` asks the guest to power off: `acpi` (power button) or `agent` (`guest-shutdown`, for guests without ACPI).",
        example: "agent",
        qemu: QemuMapping::None,
        same_as: &[],
    },
    ConfigKey {
        name: "cloud_init",
        kind: KeyType::Bool,
        default: Some(
            "true when any of user, ssh_authorized_keys, hostname, user_data, network_config is set",
        ),
        doc: "First-boot identity: at start maqet writes a cloud-init NoCloud seed (volume `cidata`, on a read-only virtio disk) that creates `user` with sudo and `ssh_authorized_keys`, sets `hostname`, and forwards a free 127.0.0.1 port to guest port 22 for `maqet ssh` (see docs/ssh.md). `false` turns it off even when those keys are set.",
        example: "true",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "user",
        kind: KeyType::UserName,
        default: Some("your user name (`maqet` when root runs maqet)"),
        doc: "First-boot identity: the guest account cloud-init creates (password login locked, password-less sudo).",
        example: "alice",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "ssh_authorized_keys",
        kind: KeyType::SshKeys,
        default: Some("your ~/.ssh/*.pub keys, else a key pair maqet generates"),
        doc: "First-boot identity: public key lines for the user's `authorized_keys`. maqet's own key (`<data>/ssh/id_ed25519`, made once with `ssh-keygen`) is always added too, so `maqet ssh` and `wait --ssh` work without a passphrase.",
        example: "[\"ssh-ed25519 AAAAC3Nza... alice@laptop\"]",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "hostname",
        kind: KeyType::Hostname,
        default: Some("the VM name"),
        doc: "First-boot identity: the guest's host name.",
        example: "web",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "user_data",
        kind: KeyType::CloudData,
        default: None,
        doc: "First-boot identity: more cloud-config. A mapping's top-level keys are set over the generated cloud-config (a key both have takes this value, so `users` replaces the generated user); text is the whole `user-data` as it is (a script, multipart...), replacing the generated one.",
        example: "{packages: [nginx], runcmd: [[systemctl, enable, --now, nginx]]}",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
    ConfigKey {
        name: "network_config",
        kind: KeyType::CloudData,
        default: None,
        doc: "First-boot identity: the seed's `network-config` (netplan v2 or v1), a mapping or text; without it the guest's image decides (usually DHCP).",
        example: "{version: 2, ethernets: {eth0: {dhcp4: true}}}",
        qemu: QemuMapping::Special,
        same_as: &[],
    },
];

/// Finds a declared key.
pub fn find_key(name: &str) -> Option<&'static ConfigKey> {
    CONFIG_KEYS.iter().find(|k| k.name == name)
}

/// The declared key closest to a misspelled one, when one is close enough.
pub fn suggest_key(name: &str) -> Option<&'static str> {
    closest(name, CONFIG_KEYS.iter().map(|k| k.name))
}

/// The candidate closest to `input` by edit distance, when it is close enough to be a typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(input, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{VmConfig, validate_config, yaml};

    #[test]
    fn suggests_near_names_only() {
        let keys = ["memory", "cpu", "storage"];
        assert_eq!(closest("memroy", keys), Some("memory"));
        assert_eq!(closest("zzzzzz", keys), None);
    }

    #[test]
    fn the_table_and_the_typed_config_list_the_same_keys_in_the_same_order() {
        let table: Vec<&str> = CONFIG_KEYS.iter().map(|k| k.name).collect();
        assert_eq!(table, VmConfig::key_names());
    }

    #[test]
    fn each_example_is_valid_and_reads_through_its_field() {
        for key in CONFIG_KEYS {
            let text = format!("{}: {}\n", key.name, key.example);
            let doc = yaml::parse_str(&text, None).expect("an example parses");
            // An elided example (`AAAAC3Nza...`) shows the shape, not a value to copy.
            if !key.example.contains("...") {
                validate_config(&doc.value, Some(&doc))
                    .unwrap_or_else(|e| panic!("the example of `{}` is invalid: {e}", key.name));
            }
            assert_ne!(
                VmConfig::from_value(&doc.value),
                VmConfig::default(),
                "`{}`: its example does not reach the typed field",
                key.name
            );
        }
    }
}
