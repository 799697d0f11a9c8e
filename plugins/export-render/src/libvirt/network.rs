//! How each NIC of the VM reaches the domain, and which backend carries forwarded ports.
//!
//! The guest must see the NIC it has under maqet: the same model, the same MAC (QEMU's
//! default `52:54:00:12:34:56` upwards when the config sets none, where libvirt would pick a
//! random one) and the same PCI slot (see [`crate::pci`]). Forwarded ports keep their host
//! address. libvirt models port forwards only with the passt backend, which libvirt accepts
//! from 9.2 on (9.0 refuses `<backend type='passt'/>` at define time); on older libvirt, or
//! when the target's version is unknown, a NIC with forwarded ports is given to QEMU directly
//! through `<qemu:commandline>` as maqet gives it (`-netdev user,hostfwd=...` and the NIC
//! `-device`), which every libvirt accepts. NICs without forwards are plain
//! `<interface type='user'>` (QEMU's slirp) either way.

use super::NetBackend;
use crate::vm::{Nic, PortForward, VmView};

/// The first libvirt version that accepts the passt backend: 9.2.0.
pub const PASST_SINCE: (u32, u32) = (9, 2);

/// How one NIC is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicForm {
    /// `<interface type='user'>`, with passt (and its `<portForward>`s) when `passt`.
    Interface {
        /// Uses the passt backend.
        passt: bool,
    },
    /// QEMU options in `<qemu:commandline>`.
    QemuArgs(Vec<String>),
}

/// One NIC as the domain gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicPlan {
    /// The NIC.
    pub nic: Nic,
    /// Its MAC address.
    pub mac: String,
    /// Its slot on PCI bus 0, when maqet's command line is known.
    pub slot: Option<u8>,
    /// How it is written.
    pub form: NicForm,
}

/// Every NIC, and a sentence saying how forwarded ports are carried (when there are any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPlan {
    /// The NICs, in the VM's order.
    pub nics: Vec<NicPlan>,
    /// How forwarded ports are carried, for the user.
    pub summary: Option<String>,
    /// A forced backend the target's libvirt is known to refuse.
    pub warning: Option<String>,
}

impl NetworkPlan {
    /// The QEMU options every NIC given to QEMU directly needs.
    pub fn qemu_args(&self) -> Vec<String> {
        self.nics
            .iter()
            .flat_map(|n| match &n.form {
                NicForm::QemuArgs(args) => args.clone(),
                NicForm::Interface { .. } => Vec::new(),
            })
            .collect()
    }
}

/// Decides how each NIC is written for a libvirt of `version` (`None`: unknown).
pub fn plan_network(vm: &VmView, backend: NetBackend, version: Option<(u32, u32)>) -> NetworkPlan {
    let forwards = vm.nics.iter().any(|n| !n.forwards.is_empty());
    let passt = match backend {
        NetBackend::Passt => true,
        NetBackend::Slirp => false,
        NetBackend::Auto => version.is_some_and(|v| v >= PASST_SINCE),
    };
    let mut default_macs = 0u8;
    let mut nics = Vec::new();
    for (index, nic) in vm.nics.iter().enumerate() {
        let mac = nic.mac.clone().unwrap_or_else(|| {
            // QEMU numbers the NICs without a MAC in the order it creates them.
            let mac = format!("52:54:00:12:34:{:02x}", 0x56u8.wrapping_add(default_macs));
            default_macs = default_macs.wrapping_add(1);
            mac
        });
        let slot = vm.pci.nic(index);
        let form = if nic.forwards.is_empty() || passt {
            NicForm::Interface {
                passt: passt && !nic.forwards.is_empty(),
            }
        } else {
            NicForm::QemuArgs(qemu_nic_args(index, nic, &mac, slot))
        };
        nics.push(NicPlan {
            nic: nic.clone(),
            mac,
            slot,
            form,
        });
    }
    let summary = forwards.then(|| {
        let target = match version {
            Some((major, minor)) => format!("libvirt {major}.{minor}"),
            None => "a libvirt of unknown version".to_owned(),
        };
        if passt {
            format!(
                "forwarded ports use libvirt's passt backend (<portForward>) for {target}; the \
                 libvirt host needs the `passt` package"
            )
        } else {
            format!(
                "forwarded ports use QEMU's slirp hostfwd through <qemu:commandline> for \
                 {target} (libvirt forwards ports only with passt, from {}.{} on)",
                PASST_SINCE.0, PASST_SINCE.1
            )
        }
    });
    let warning = match version {
        Some((major, minor)) if forwards && passt && (major, minor) < PASST_SINCE => Some(format!(
            "libvirt {major}.{minor} refuses the passt backend (it needs {}.{}), so this domain \
             will not define there; use `--net-backend auto` or `slirp`",
            PASST_SINCE.0, PASST_SINCE.1
        )),
        _ => None,
    };
    NetworkPlan {
        nics,
        summary,
        warning,
    }
}

/// `-netdev user,id=..,hostfwd=..` and the NIC `-device`, as maqet's command line has them.
fn qemu_nic_args(index: usize, nic: &Nic, mac: &str, slot: Option<u8>) -> Vec<String> {
    let id = format!("maqet-net{index}");
    let mut netdev = format!("user,id={id}");
    for forward in &nic.forwards {
        netdev.push_str(",hostfwd=");
        netdev.push_str(&hostfwd(forward));
    }
    let driver = match nic.model.as_str() {
        "virtio" => "virtio-net-pci",
        other => other,
    };
    let mut device = format!("{driver},netdev={id},mac={mac}");
    if let Some(slot) = slot {
        device.push_str(&format!(",addr={slot:#04x}"));
    }
    vec!["-netdev".to_owned(), netdev, "-device".to_owned(), device]
}

/// QEMU's `hostfwd` rule; no host address means every address, as in QEMU.
fn hostfwd(forward: &PortForward) -> String {
    format!(
        "{}:{}:{}-:{}",
        forward.proto,
        forward.host_addr.as_deref().unwrap_or_default(),
        forward.host,
        forward.guest
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vm() -> VmView {
        let info = json!({"name": "web", "vm_id": "1", "config": {
            "ports": [{"host": 2222, "guest": 22}]}});
        VmView::from_info(&info).unwrap()
    }

    #[test]
    fn ports_become_qemu_args_below_9_2_and_passt_from_it() {
        let old = plan_network(&vm(), NetBackend::Auto, Some((9, 0)));
        assert_eq!(
            old.qemu_args().join(" "),
            "-netdev user,id=maqet-net0,hostfwd=tcp:127.0.0.1:2222-:22 \
             -device virtio-net-pci,netdev=maqet-net0,mac=52:54:00:12:34:56"
        );
        assert!(old.summary.unwrap().contains("hostfwd"));
        let unknown = plan_network(&vm(), NetBackend::Auto, None);
        assert!(!unknown.qemu_args().is_empty());
        let forced = plan_network(&vm(), NetBackend::Passt, Some((9, 0)));
        assert!(
            forced
                .warning
                .unwrap()
                .contains("refuses the passt backend")
        );
        let new = plan_network(&vm(), NetBackend::Auto, Some((9, 2)));
        assert!(new.warning.is_none());
        assert_eq!(new.nics[0].form, NicForm::Interface { passt: true });
        assert!(new.qemu_args().is_empty());
    }
}
