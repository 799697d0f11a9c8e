//! Rendering a VM as a libvirt domain XML.
//!
//! Everything libvirt models becomes its own element, pinned to the PCI slot QEMU gives it
//! under maqet (see [`crate::pci`]), so the guest finds its devices where it left them; only
//! options with no libvirt model go to `<qemu:commandline>`, and each of them is named in
//! [`Rendered::warnings`]. NICs with forwarded ports depend on the target's libvirt version
//! (see [`network`]).

mod devices;
pub mod network;
mod xml;

use quick_xml::Writer;
use quick_xml::events::BytesText;

use crate::error::ExportError;
use crate::vm::{CpuModel, VmView};
use xml::{XmlResult, XmlWriter, empty_with, text_element};

const QEMU_NAMESPACE: &str = "http://libvirt.org/schemas/domain/qemu/1.0";
/// The namespace of maqet's `<metadata>` element in deployed domains.
pub const MAQET_NAMESPACE: &str = "urn:maqet:libvirt:1";

/// Which backend carries a NIC with forwarded ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetBackend {
    /// passt when the target's libvirt is known to be 9.2 or newer, else slirp.
    #[default]
    Auto,
    /// QEMU's slirp with `hostfwd`, given to QEMU through `<qemu:commandline>` (any libvirt).
    Slirp,
    /// libvirt's passt backend with `<portForward>` (libvirt 9.2 or newer, and the `passt`
    /// package on the libvirt host).
    Passt,
}

impl NetBackend {
    /// Every backend, in the order help lists them.
    pub const ALL: [NetBackend; 3] = [NetBackend::Auto, NetBackend::Slirp, NetBackend::Passt];

    /// The names `--net-backend` accepts, in the order of [`NetBackend::ALL`].
    pub const NAMES: [&'static str; 3] = [
        NetBackend::Auto.as_str(),
        NetBackend::Slirp.as_str(),
        NetBackend::Passt.as_str(),
    ];

    /// The backend's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Slirp => "slirp",
            Self::Passt => "passt",
        }
    }

    /// Parses one of [`NetBackend::NAMES`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == text)
    }
}

/// Choices of a libvirt export that are not part of the VM.
#[derive(Debug, Clone, Default)]
pub struct LibvirtOptions {
    /// Where libvirt logs the serial console (default
    /// `/var/log/libvirt/qemu/<name>-serial.log`).
    pub serial_log: Option<String>,
    /// The user-network backend.
    pub net_backend: NetBackend,
    /// Volumes a deployment uploaded, `(pool, volume)`, recorded in `<metadata>` so that
    /// `maqet undeploy` and the next `maqet deploy` find them.
    pub volumes: Vec<(String, String)>,
    /// The target's libvirt version `(major, minor)`, when known; decides the backend of
    /// forwarded ports under [`NetBackend::Auto`].
    pub libvirt_version: Option<(u32, u32)>,
    /// Another domain name than the VM's; the domain then gets its own UUID (derived from
    /// the VM's id and the name), so it can be defined next to the VM's own export.
    pub rename: Option<String>,
    /// The raw copy of the VM's UEFI variables the domain boots with (`<nvram>`, an absolute
    /// path on the libvirt host); `None`: libvirt makes fresh ones from the firmware's template.
    pub nvram: Option<String>,
}

/// A rendered document and what the user should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The document.
    pub text: String,
    /// Things that could not be carried over faithfully, one sentence each.
    pub warnings: Vec<String>,
    /// How forwarded ports are carried, when the VM has any (one sentence).
    pub network: Option<String>,
}

/// Renders `vm` as a `<domain>` document for `virsh define`.
pub fn render_domain(vm: &VmView) -> Result<String, ExportError> {
    Ok(render_domain_with(vm, &LibvirtOptions::default())?.text)
}

/// Renders `vm` as a `<domain>` document with `options`, listing what needs a warning.
pub fn render_domain_with(vm: &VmView, options: &LibvirtOptions) -> Result<Rendered, ExportError> {
    let mut warnings = Vec::new();
    let source_name = vm.name.clone();
    let mut renamed;
    let vm = match &options.rename {
        Some(name) if *name != vm.name => {
            renamed = vm.clone();
            renamed.vm_id = derived_uuid(&vm.vm_id, name);
            renamed.name = name.clone();
            &renamed
        }
        _ => vm,
    };
    let net = network::plan_network(vm, options.net_backend, options.libvirt_version);
    warnings.extend(net.warning.clone());
    if !vm.pci.uncertain.is_empty() {
        warnings.push(format!(
            "maqet's command line has device(s) whose PCI slot is not known here ({}); the \
             guest may see its devices, and so its NIC names, at other slots under libvirt",
            vm.pci.uncertain.join(", ")
        ));
    }
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_domain(&mut writer, vm, &source_name, options, &net)
        .map_err(|source| ExportError::Xml { source })?;
    let mut text = String::from_utf8_lossy(&writer.into_inner()).into_owned();
    text.push('\n');
    if !vm.passthrough.is_empty() {
        let listed: Vec<String> = vm.passthrough.iter().map(|o| o.argv.join(" ")).collect();
        warnings.push(format!(
            "libvirt has no model for {} QEMU argument(s), passed through <qemu:commandline> \
             as they are: {}",
            listed.len(),
            listed.join("; ")
        ));
    }
    Ok(Rendered {
        text,
        warnings,
        network: net.summary,
    })
}

/// A UUID for domain `name` made from VM `vm_id`: the same for the same pair, always.
fn derived_uuid(vm_id: &str, name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("maqet-domain\n{vm_id}\n{name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    // Version 8 (custom) and the RFC 4122 variant.
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn write_domain(
    w: &mut XmlWriter,
    vm: &VmView,
    source_name: &str,
    options: &LibvirtOptions,
    net: &network::NetworkPlan,
) -> XmlResult {
    let mut domain = w
        .create_element("domain")
        .with_attribute(("type", if vm.kvm { "kvm" } else { "qemu" }));
    let mut qemu_args: Vec<String> = vm
        .passthrough
        .iter()
        .flat_map(|o| o.argv.iter().cloned())
        .collect();
    qemu_args.extend(net.qemu_args());
    if !qemu_args.is_empty() {
        domain = domain.with_attribute(("xmlns:qemu", QEMU_NAMESPACE));
    }
    domain.write_inner_content(|w| {
        text_element(w, "name", &vm.name)?;
        if looks_like_uuid(&vm.vm_id) {
            text_element(w, "uuid", &vm.vm_id)?;
        }
        text_element(
            w,
            "description",
            &format!("Exported from maqet VM {source_name}"),
        )?;
        if !options.volumes.is_empty() {
            write_metadata(w, vm, options)?;
        }
        w.create_element("memory")
            .with_attribute(("unit", "KiB"))
            .write_text_content(BytesText::new(&vm.memory_kib.to_string()))?;
        text_element(w, "vcpu", &vm.cpus.to_string())?;
        write_os(w, vm, options)?;
        if arch(vm) == "x86_64" || arch(vm) == "i386" {
            w.create_element("features").write_inner_content(|w| {
                w.create_element("acpi").write_empty()?;
                if vm.secure_boot {
                    // Secure Boot firmware keeps its variables safe in SMM.
                    empty_with(w, "smm", "state", "on")?;
                }
                Ok(())
            })?;
        }
        write_cpu(w, vm)?;
        if let Some(offset) = &vm.clock {
            empty_with(w, "clock", "offset", offset)?;
        }
        if vm.no_reboot {
            text_element(w, "on_reboot", "destroy")?;
        }
        devices::write_devices(w, vm, options, net)?;
        if !qemu_args.is_empty() {
            w.create_element("qemu:commandline")
                .write_inner_content(|w| {
                    for arg in &qemu_args {
                        empty_with(w, "qemu:arg", "value", arg)?;
                    }
                    Ok(())
                })?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_metadata(w: &mut XmlWriter, vm: &VmView, options: &LibvirtOptions) -> XmlResult {
    w.create_element("metadata").write_inner_content(|w| {
        w.create_element("maqet:deploy")
            .with_attributes([
                ("xmlns:maqet", MAQET_NAMESPACE),
                ("vm", vm.name.as_str()),
                ("vm_id", vm.vm_id.as_str()),
            ])
            .write_inner_content(|w| {
                for (pool, volume) in &options.volumes {
                    w.create_element("maqet:volume")
                        .with_attributes([("pool", pool.as_str()), ("name", volume.as_str())])
                        .write_empty()?;
                }
                Ok(())
            })?;
        Ok(())
    })?;
    Ok(())
}

fn write_os(w: &mut XmlWriter, vm: &VmView, options: &LibvirtOptions) -> XmlResult {
    let mut os = w.create_element("os");
    if vm.uefi {
        // libvirt picks the firmware from QEMU's descriptors, as maqet does.
        os = os.with_attribute(("firmware", "efi"));
    }
    os.write_inner_content(|w| {
        let mut os_type = w.create_element("type").with_attribute(("arch", arch(vm)));
        if let Some(machine) = &vm.machine {
            os_type = os_type.with_attribute(("machine", machine.as_str()));
        }
        os_type.write_text_content(BytesText::new("hvm"))?;
        if vm.uefi {
            let on = |yes: bool| if yes { "yes" } else { "no" };
            w.create_element("firmware").write_inner_content(|w| {
                for name in ["secure-boot", "enrolled-keys"] {
                    w.create_element("feature")
                        .with_attributes([("enabled", on(vm.secure_boot)), ("name", name)])
                        .write_empty()?;
                }
                Ok(())
            })?;
            if vm.secure_boot {
                empty_with(w, "loader", "secure", "yes")?;
            }
            if let Some(nvram) = &options.nvram {
                // The VM's variables (boot entries, enrolled keys) as maqet kept them. No
                // `template`: libvirt 9.0 refuses one next to firmware autoselection.
                text_element(w, "nvram", nvram)?;
            }
        }
        if let Some(bios) = &vm.bios {
            w.create_element("loader")
                .with_attribute(("type", "rom"))
                .write_text_content(BytesText::new(bios))?;
        }
        for (element, value) in [
            ("kernel", &vm.kernel),
            ("initrd", &vm.initrd),
            ("cmdline", &vm.append),
            ("dtb", &vm.dtb),
        ] {
            if let Some(value) = value {
                text_element(w, element, value)?;
            }
        }
        for dev in &vm.boot {
            empty_with(w, "boot", "dev", dev)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_cpu(w: &mut XmlWriter, vm: &VmView) -> XmlResult {
    if vm.cpu_model.is_none() && vm.topology.is_none() {
        return Ok(());
    }
    let mut cpu = w.create_element("cpu");
    cpu = match &vm.cpu_model {
        Some(CpuModel::HostPassthrough) => cpu.with_attribute(("mode", "host-passthrough")),
        Some(CpuModel::Maximum) => cpu.with_attribute(("mode", "maximum")),
        Some(CpuModel::Named { .. }) => {
            cpu.with_attributes([("mode", "custom"), ("match", "exact")])
        }
        None => cpu,
    };
    cpu.write_inner_content(|w| {
        if let Some(CpuModel::Named { model, features }) = &vm.cpu_model {
            w.create_element("model")
                .with_attribute(("fallback", "forbid"))
                .write_text_content(BytesText::new(model))?;
            if let Some(t) = vm.topology {
                write_topology(w, t)?;
            }
            for (name, enabled) in features {
                let policy = if *enabled { "require" } else { "disable" };
                w.create_element("feature")
                    .with_attributes([("policy", policy), ("name", name.as_str())])
                    .write_empty()?;
            }
        } else if let Some(t) = vm.topology {
            write_topology(w, t)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_topology(w: &mut XmlWriter, t: crate::vm::Topology) -> XmlResult {
    w.create_element("topology")
        .with_attributes([
            ("sockets", t.sockets.to_string().as_str()),
            ("dies", "1"),
            ("cores", t.cores.to_string().as_str()),
            ("threads", t.threads.to_string().as_str()),
        ])
        .write_empty()?;
    Ok(())
}

/// The guest architecture, from the QEMU binary's name (`qemu-system-aarch64`).
pub fn arch(vm: &VmView) -> &str {
    vm.binary
        .as_deref()
        .and_then(|b| b.rsplit('/').next())
        .and_then(|b| b.strip_prefix("qemu-system-"))
        .unwrap_or("x86_64")
}

fn looks_like_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape_is_checked() {
        assert!(looks_like_uuid("1b4e28ba-2fa1-11d2-883f-0016d3cca427"));
        assert!(!looks_like_uuid("vm-1234"));
    }

    #[test]
    fn net_backends_parse() {
        assert_eq!(NetBackend::parse("passt"), Some(NetBackend::Passt));
        assert_eq!(NetBackend::parse("tap"), None);
    }
}
