//! Folding QEMU options into the [`VmView`]: what libvirt (and Nomad) model is taken in, the
//! rest is kept in [`VmView::passthrough`].

use std::collections::HashMap;

use crate::options::QemuOption;
use crate::vm::{CpuModel, Display, Nic, PortForward, Topology, VmView};

/// What was seen while reading the options that later ones refer to.
#[derive(Default)]
struct Seen {
    /// User-mode netdevs by id, with their forwarded ports.
    user_netdevs: HashMap<String, Vec<PortForward>>,
    /// Any network option at all (QEMU then adds no default NIC).
    network: bool,
    /// `-net user` forwards not yet given to a NIC.
    legacy_forwards: Vec<PortForward>,
    /// A `-netdev user` or `-nic user`: maqet's `ports` join the first one.
    user_net: bool,
}

/// Applies `options` in order; returns whether they have a user-mode network that maqet's
/// `ports` join (`-netdev user`, `-nic user`). Errors are messages about the config.
pub fn apply_options(vm: &mut VmView, options: Vec<QemuOption>) -> Result<bool, String> {
    let mut seen = Seen::default();
    for option in options {
        if matches!(option.name.as_str(), "netdev" | "nic")
            && option.implied().as_deref() == Some("user")
        {
            seen.user_net = true;
        }
        if !apply_one(vm, &option, &mut seen)? {
            vm.passthrough.push(option);
        }
    }
    if !seen.legacy_forwards.is_empty() {
        match vm.nics.first_mut() {
            Some(nic) => nic.forwards.append(&mut seen.legacy_forwards),
            None => vm.nics.push(Nic {
                model: "e1000".to_owned(),
                mac: None,
                forwards: std::mem::take(&mut seen.legacy_forwards),
            }),
        }
    }
    if seen.network {
        vm.no_network |= vm.nics.is_empty();
    }
    Ok(seen.user_net)
}

/// Adds what QEMU supplies by itself but libvirt does not: the default VGA card and NIC, and
/// the NIC maqet adds for `ports` when the config has no user-mode network (`user_net`): a
/// `virtio-net-pci` on its own netdev, after every other device, as maqet's command line has it.
pub fn add_qemu_defaults(vm: &mut VmView, user_net: bool) {
    let x86 = vm
        .binary
        .as_deref()
        .is_none_or(|b| b.ends_with("x86_64") || b.ends_with("i386"));
    if vm.video.is_none() && !vm.nodefaults && x86 {
        vm.video = Some("vga".to_owned());
    }
    if !vm.ports.is_empty() && !user_net {
        // maqet's own `-netdev user` is a network option: QEMU adds no default NIC then.
        vm.nics.push(Nic {
            model: "virtio".to_owned(),
            mac: None,
            forwards: vm.ports.clone(),
        });
        return;
    }
    if vm.nics.is_empty() && !vm.no_network && !vm.nodefaults && x86 {
        let model = if vm.machine_or_default().starts_with("q35") {
            "e1000e"
        } else {
            "e1000"
        };
        vm.nics.push(Nic {
            model: model.to_owned(),
            mac: None,
            forwards: Vec::new(),
        });
    }
    if !vm.ports.is_empty() {
        if vm.nics.is_empty() {
            vm.nics.push(Nic {
                model: "virtio".to_owned(),
                mac: None,
                forwards: Vec::new(),
            });
        }
        let ports = vm.ports.clone();
        vm.nics[0].forwards.extend(ports);
    }
}

/// Takes one option into the model; `false` when libvirt has no model for it.
fn apply_one(vm: &mut VmView, option: &QemuOption, seen: &mut Seen) -> Result<bool, String> {
    let value = option.value.clone().unwrap_or_default();
    let parts = option.parts();
    let only = |allowed: &[&str]| {
        parts
            .iter()
            .skip(1)
            .all(|(k, _)| allowed.contains(&k.as_str()))
    };
    match option.name.as_str() {
        "kernel" => vm.kernel = Some(value),
        "initrd" => vm.initrd = Some(value),
        "append" => vm.append = Some(value),
        "dtb" => vm.dtb = Some(value),
        "bios" => vm.bios = Some(value),
        "name" | "uuid" => {}
        "no-reboot" => vm.no_reboot = true,
        "nodefaults" => vm.nodefaults = true,
        "enable-kvm" => vm.kvm = true,
        "m" => {
            let size = option.get("size").or_else(|| option.implied());
            let kib = size
                .as_deref()
                .and_then(crate::vm::parse_memory_kib)
                .ok_or_else(|| format!("`-m {value}` is not a memory size"))?;
            if !only(&["size"]) {
                return Ok(false);
            }
            vm.memory_kib = kib;
        }
        "smp" => return Ok(apply_smp(vm, option)),
        "machine" | "M" => return Ok(apply_machine(vm, option)),
        "accel" => {
            let Some(accel) = option.implied() else {
                return Ok(false);
            };
            if !only(&[]) || !["kvm", "tcg"].contains(&accel.as_str()) {
                return Ok(false);
            }
            vm.kvm = accel == "kvm";
        }
        "cpu" => return Ok(apply_cpu(vm, option)),
        "display" => return Ok(apply_display(vm, option)),
        "nographic" => vm.display = Display::None,
        "vnc" => match parse_vnc(&value) {
            Some(display) => vm.display = display,
            None => return Ok(false),
        },
        "vga" => {
            let model = match value.as_str() {
                "std" => "vga",
                "cirrus" => "cirrus",
                "vmware" => "vmvga",
                "qxl" => "qxl",
                "virtio" => "virtio",
                "none" => "none",
                _ => return Ok(false),
            };
            vm.video = Some(model.to_owned());
        }
        "boot" => {
            let order = option.get("order").or_else(|| option.implied());
            let Some(order) = order.filter(|_| only(&["order", "menu"])) else {
                return Ok(false);
            };
            for letter in order.chars() {
                let dev = match letter {
                    'a' => "fd",
                    'c' => "hd",
                    'd' => "cdrom",
                    'n' => "network",
                    _ => return Ok(false),
                };
                vm.boot.push(dev.to_owned());
            }
        }
        "rtc" => match (option.get("base").as_deref(), only(&["base"])) {
            (Some(base @ ("utc" | "localtime")), true) => vm.clock = Some(base.to_owned()),
            _ => return Ok(false),
        },
        "usb" => {
            vm.usb_controller
                .get_or_insert_with(|| "default".to_owned());
        }
        "netdev" => {
            seen.network = true;
            if option.implied().as_deref() != Some("user") || !only(&["id", "hostfwd"]) {
                return Ok(false);
            }
            let id = option.get("id").unwrap_or_default();
            seen.user_netdevs.insert(id, forwards_of(option)?);
        }
        "nic" => {
            seen.network = true;
            match option.implied().as_deref() {
                Some("none") => vm.no_network = true,
                Some("user") if only(&["model", "mac", "hostfwd", "id"]) => {
                    let model = option.get("model").unwrap_or_else(|| "e1000".to_owned());
                    let Some(model) = nic_model(&model) else {
                        return Ok(false);
                    };
                    vm.nics.push(Nic {
                        model: model.to_owned(),
                        mac: option.get("mac"),
                        forwards: forwards_of(option)?,
                    });
                }
                _ => return Ok(false),
            }
        }
        "net" => {
            seen.network = true;
            match option.implied().as_deref() {
                Some("none") => vm.no_network = true,
                Some("nic") if only(&["model", "macaddr"]) => {
                    let model = option.get("model").unwrap_or_else(|| "e1000".to_owned());
                    let Some(model) = nic_model(&model) else {
                        return Ok(false);
                    };
                    vm.nics.push(Nic {
                        model: model.to_owned(),
                        mac: option.get("macaddr"),
                        forwards: Vec::new(),
                    });
                }
                Some("user") if only(&["hostfwd"]) => {
                    seen.legacy_forwards.extend(forwards_of(option)?);
                }
                _ => return Ok(false),
            }
        }
        "device" => return apply_device(vm, option, seen),
        _ => return Ok(false),
    }
    Ok(true)
}

fn apply_smp(vm: &mut VmView, option: &QemuOption) -> bool {
    let number = |key: &str| option.get(key).and_then(|v| v.parse::<u64>().ok());
    let allowed = ["cpus", "sockets", "cores", "threads"];
    let parts = option.parts();
    if parts
        .iter()
        .any(|(k, v)| v.is_some() && !allowed.contains(&k.as_str()))
    {
        return false;
    }
    let implied = option.implied().and_then(|v| v.parse::<u64>().ok());
    let (sockets, cores, threads) = (number("sockets"), number("cores"), number("threads"));
    let topology = (sockets.is_some() || cores.is_some() || threads.is_some()).then(|| Topology {
        sockets: sockets.unwrap_or(1),
        cores: cores.unwrap_or(1),
        threads: threads.unwrap_or(1),
    });
    let cpus = number("cpus")
        .or(implied)
        .or_else(|| topology.map(|t| t.sockets * t.cores * t.threads));
    match cpus {
        Some(cpus) if cpus > 0 => {
            vm.cpus = cpus;
            vm.topology = topology;
            true
        }
        _ => false,
    }
}

fn apply_machine(vm: &mut VmView, option: &QemuOption) -> bool {
    let mut rest = Vec::new();
    for (index, (key, value)) in option.parts().into_iter().enumerate() {
        match (key.as_str(), value) {
            (machine, None) if index == 0 => vm.machine = Some(machine.to_owned()),
            ("type", Some(machine)) => vm.machine = Some(machine),
            ("accel", Some(accel)) if accel == "kvm" || accel == "tcg" => {
                vm.kvm = accel == "kvm";
            }
            (key, value) => rest.push(match value {
                Some(value) => format!("{key}={value}"),
                None => key.to_owned(),
            }),
        }
    }
    if rest.is_empty() {
        return true;
    }
    // Properties libvirt does not model are passed on as their own `-machine`, which QEMU
    // merges into the machine libvirt creates.
    vm.passthrough.push(QemuOption {
        name: "machine".to_owned(),
        value: Some(rest.join(",")),
        argv: vec!["-machine".to_owned(), rest.join(",")],
    });
    true
}

fn apply_cpu(vm: &mut VmView, option: &QemuOption) -> bool {
    let Some(model) = option.implied() else {
        return false;
    };
    let mut features = Vec::new();
    for (key, value) in option.parts().into_iter().skip(1) {
        let feature = match (
            key.strip_prefix('+'),
            key.strip_prefix('-'),
            value.as_deref(),
        ) {
            (Some(name), _, None) => (name.to_owned(), true),
            (_, Some(name), None) => (name.to_owned(), false),
            (None, None, Some("on" | "true")) => (key.clone(), true),
            (None, None, Some("off" | "false")) => (key.clone(), false),
            _ => return false,
        };
        features.push(feature);
    }
    vm.cpu_model = Some(match model.as_str() {
        "host" if features.is_empty() => CpuModel::HostPassthrough,
        "max" if features.is_empty() => CpuModel::Maximum,
        _ => CpuModel::Named { model, features },
    });
    true
}

fn apply_display(vm: &mut VmView, option: &QemuOption) -> bool {
    let parts = option.parts();
    let Some((kind, inline)) = parts.first() else {
        return false;
    };
    let display = match (kind.as_str(), inline.as_deref()) {
        ("none", None) => Display::None,
        ("vnc", Some(address)) => match parse_vnc(address) {
            Some(vnc) => vnc,
            None => return false,
        },
        ("gtk" | "sdl", None) => Display::Sdl,
        ("spice-app", None) => Display::Spice,
        ("egl-headless", None) => Display::EglHeadless,
        _ => return false,
    };
    if parts.len() > 1 && display != Display::None {
        return false;
    }
    vm.display = display;
    true
}

/// `:1`, `127.0.0.1:1` or `0.0.0.0:5` (display numbers, port 5900 + N).
fn parse_vnc(text: &str) -> Option<Display> {
    let (host, display) = text.rsplit_once(':')?;
    let display = display.parse().ok()?;
    Some(Display::Vnc {
        listen: (!host.is_empty()).then(|| host.to_owned()),
        display,
    })
}

fn apply_device(vm: &mut VmView, option: &QemuOption, seen: &mut Seen) -> Result<bool, String> {
    let Some(driver) = option.implied() else {
        return Ok(false);
    };
    let parts = option.parts();
    let only = |allowed: &[&str]| {
        parts
            .iter()
            .skip(1)
            .all(|(k, _)| allowed.contains(&k.as_str()))
    };
    if let Some(model) = nic_model(&driver) {
        seen.network = true;
        let netdev = option.get("netdev").unwrap_or_default();
        let Some(forwards) = seen.user_netdevs.get(&netdev) else {
            return Ok(false);
        };
        if !only(&["netdev", "mac", "id"]) {
            return Ok(false);
        }
        vm.nics.push(Nic {
            model: model.to_owned(),
            mac: option.get("mac"),
            forwards: forwards.clone(),
        });
        return Ok(true);
    }
    if !only(&["id"]) {
        return Ok(false);
    }
    match driver.as_str() {
        "virtio-rng-pci" | "virtio-rng" => vm.rng = true,
        "virtio-balloon-pci" | "virtio-balloon" => vm.balloon = true,
        "usb-tablet" => vm.usb_inputs.push("tablet".to_owned()),
        "usb-kbd" => vm.usb_inputs.push("keyboard".to_owned()),
        "usb-mouse" => vm.usb_inputs.push("mouse".to_owned()),
        "qemu-xhci" | "nec-usb-xhci" | "piix3-usb-uhci" | "piix4-usb-uhci" | "ich9-usb-ehci1"
        | "usb-ehci" => {
            let model = match driver.as_str() {
                "ich9-usb-ehci1" => "ich9-ehci1",
                "usb-ehci" => "ehci",
                "piix3-usb-uhci" => "piix3-uhci",
                "piix4-usb-uhci" => "piix4-uhci",
                other => other,
            };
            vm.usb_controller = Some(model.to_owned());
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// libvirt's `<model type>` for a QEMU NIC driver.
fn nic_model(driver: &str) -> Option<&'static str> {
    Some(match driver {
        "virtio-net-pci" | "virtio-net" | "virtio" => "virtio",
        "e1000" => "e1000",
        "e1000e" => "e1000e",
        "rtl8139" => "rtl8139",
        _ => return None,
    })
}

/// The `hostfwd=` parts of a user netdev: `tcp:127.0.0.1:2222-:22`, `udp::5353-:53`.
fn forwards_of(option: &QemuOption) -> Result<Vec<PortForward>, String> {
    let mut out = Vec::new();
    for (key, value) in option.parts() {
        if key != "hostfwd" {
            continue;
        }
        let text = value.unwrap_or_default();
        let bad = || format!("hostfwd `{text}` is not like `tcp:ADDR:PORT-:PORT`");
        let (proto, rest) = match text.split_once(':') {
            Some((p, rest)) if p == "tcp" || p == "udp" => (p, rest),
            Some(("", _)) => ("tcp", &text[1..]),
            _ => ("tcp", text.as_str()),
        };
        let (host_side, guest_side) = rest.split_once('-').ok_or_else(bad)?;
        let (host_addr, host_port) = host_side.rsplit_once(':').ok_or_else(bad)?;
        let guest_port = guest_side.rsplit(':').next().unwrap_or_default();
        out.push(PortForward {
            proto: proto.to_owned(),
            host_addr: (!host_addr.is_empty()).then(|| host_addr.to_owned()),
            host: host_port.parse().map_err(|_| bad())?,
            guest: guest_port.parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::from_arguments;
    use serde_json::json;

    fn view(arguments: serde_json::Value) -> VmView {
        let info = json!({"name": "t", "config": {"arguments": arguments}});
        VmView::from_info(&info).unwrap()
    }

    #[test]
    fn user_netdev_and_nic_become_one_interface_with_forwards() {
        let vm = view(json!([
            {"netdev": {"user": null, "id": "n0", "hostfwd": "tcp:127.0.0.1:2222-:22"}},
            {"device": "virtio-net-pci", "netdev": "n0", "mac": "52:54:00:12:34:56"}
        ]));
        assert!(vm.passthrough.is_empty(), "{:?}", vm.passthrough);
        assert_eq!(vm.nics.len(), 1);
        assert_eq!(vm.nics[0].model, "virtio");
        assert_eq!(vm.nics[0].mac.as_deref(), Some("52:54:00:12:34:56"));
        assert_eq!(
            vm.nics[0].forwards,
            [PortForward {
                proto: "tcp".into(),
                host_addr: Some("127.0.0.1".into()),
                host: 2222,
                guest: 22
            }]
        );
    }

    #[test]
    fn unknown_devices_are_passed_through() {
        let vm = view(json!([{"device": "ivshmem-plain", "memdev": "m0"}, {"S": null}]));
        let argv: Vec<Vec<String>> = vm.passthrough.iter().map(|o| o.argv.clone()).collect();
        assert_eq!(
            argv,
            [
                vec!["-device".to_owned(), "ivshmem-plain,memdev=m0".to_owned()],
                vec!["-S".to_owned()]
            ]
        );
    }

    #[test]
    fn smp_topology_and_cpu_features_are_read() {
        let vm = view(json!([
            {"smp": {"cpus": 4, "sockets": 1, "cores": 2, "threads": 2}},
            {"cpu": "Skylake-Client", "+avx2": null, "vmx": "off"}
        ]));
        assert_eq!(vm.cpus, 4);
        assert_eq!(
            vm.topology,
            Some(Topology {
                sockets: 1,
                cores: 2,
                threads: 2
            })
        );
        assert_eq!(
            vm.cpu_model,
            Some(CpuModel::Named {
                model: "Skylake-Client".into(),
                features: vec![("avx2".into(), true), ("vmx".into(), false)]
            })
        );
    }

    #[test]
    fn qemu_defaults_give_a_vga_card_and_a_nic_unless_nodefaults() {
        let vm = view(json!([]));
        assert_eq!(vm.video.as_deref(), Some("vga"));
        assert_eq!(vm.nics[0].model, "e1000");
        let vm = view(json!(["nodefaults"]));
        assert_eq!(vm.video, None);
        assert!(vm.nics.is_empty());
        assert!(
            from_arguments(Some(&json!(["nodefaults"])))[0]
                .value
                .is_none()
        );
    }
}
