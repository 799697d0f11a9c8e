//! The `<devices>` of a domain: disks, shares, NICs, consoles, the guest agent channel,
//! graphics and video, and the defaults libvirt would add that QEMU would not.

use super::xml::{XmlResult, XmlWriter, empty, empty_with, text_element};
use super::{LibvirtOptions, NetBackend};
use crate::vm::{Bus, Disk, Display, Nic, VmView};

pub(super) fn write_devices(
    w: &mut XmlWriter,
    vm: &VmView,
    options: &LibvirtOptions,
    warnings: &mut Vec<String>,
) -> XmlResult {
    w.create_element("devices").write_inner_content(|w| {
        if let Some(binary) = vm.binary.as_deref().filter(|b| b.starts_with('/')) {
            text_element(w, "emulator", binary)?;
        }
        let q35 = vm.machine_or_default().starts_with("q35");
        let mut targets = TargetNames::default();
        for disk in &vm.disks {
            write_disk(w, disk, q35, &mut targets)?;
        }
        write_controllers(w, vm)?;
        for dir in &vm.shared_dirs {
            let access = match dir.security_model.as_str() {
                "mapped-xattr" | "mapped-file" | "mapped" => "mapped",
                "none" => "squash",
                _ => "passthrough",
            };
            w.create_element("filesystem")
                .with_attributes([("type", "mount"), ("accessmode", access)])
                .write_inner_content(|w| {
                    empty_with(w, "source", "dir", &dir.path)?;
                    empty_with(w, "target", "dir", &dir.mount_tag)?;
                    if dir.readonly {
                        empty(w, "readonly")?;
                    }
                    Ok(())
                })?;
        }
        let passt = match options.net_backend {
            NetBackend::Passt => true,
            NetBackend::Slirp => false,
            NetBackend::Auto => vm.nics.iter().any(|n| !n.forwards.is_empty()),
        };
        if passt && vm.nics.iter().any(|n| !n.forwards.is_empty()) {
            warnings.push(
                "forwarded ports use libvirt's passt backend (libvirt 9.0 forwards ports only \
                 with passt): install the `passt` package on the libvirt host"
                    .to_owned(),
            );
        }
        for nic in &vm.nics {
            write_interface(w, nic, passt, warnings)?;
        }
        write_serial(w, vm, options)?;
        if vm.guest_agent {
            w.create_element("channel")
                .with_attribute(("type", "unix"))
                .write_inner_content(|w| {
                    w.create_element("target")
                        .with_attributes([("type", "virtio"), ("name", "org.qemu.guest_agent.0")])
                        .write_empty()?;
                    Ok(())
                })?;
        }
        write_graphics(w, &vm.display)?;
        if let Some(model) = &vm.video {
            w.create_element("video").write_inner_content(|w| {
                empty_with(w, "model", "type", model)?;
                Ok(())
            })?;
        }
        for input in &vm.usb_inputs {
            w.create_element("input")
                .with_attributes([("type", input.as_str()), ("bus", "usb")])
                .write_empty()?;
        }
        if vm.rng {
            w.create_element("rng")
                .with_attribute(("model", "virtio"))
                .write_inner_content(|w| {
                    w.create_element("backend")
                        .with_attribute(("model", "random"))
                        .write_text_content(quick_xml::events::BytesText::new("/dev/urandom"))?;
                    Ok(())
                })?;
        }
        // libvirt adds a balloon by itself; QEMU has one only when asked.
        empty_with(
            w,
            "memballoon",
            "model",
            if vm.balloon { "virtio" } else { "none" },
        )?;
        Ok(())
    })?;
    Ok(())
}

fn write_controllers(w: &mut XmlWriter, vm: &VmView) -> XmlResult {
    if vm.disks.iter().any(|d| d.bus == Bus::Scsi) {
        w.create_element("controller")
            .with_attributes([("type", "scsi"), ("index", "0"), ("model", "virtio-scsi")])
            .write_empty()?;
    }
    // libvirt adds a USB controller by itself; QEMU has one only when asked.
    let usb = match (&vm.usb_controller, vm.usb_inputs.is_empty()) {
        (Some(model), _) => Some(model.as_str()),
        (None, false) => Some("default"),
        (None, true) => None,
    };
    let controller = w
        .create_element("controller")
        .with_attributes([("type", "usb"), ("index", "0")]);
    match usb {
        None => controller.with_attribute(("model", "none")).write_empty()?,
        Some("default") => controller.write_empty()?,
        Some(model) => controller.with_attribute(("model", model)).write_empty()?,
    };
    Ok(())
}

fn write_disk(w: &mut XmlWriter, disk: &Disk, q35: bool, targets: &mut TargetNames) -> XmlResult {
    // q35 has no PIIX IDE: maqet's `ide` drives sit on the ICH9 AHCI's ports there.
    let bus = match disk.bus {
        Bus::Ide if q35 => Bus::Sata,
        bus => bus,
    };
    let (bus_name, dev) = targets.next(bus);
    let device = if disk.cdrom { "cdrom" } else { "disk" };
    let source_type = if disk.volume.is_some() {
        "volume"
    } else {
        "file"
    };
    w.create_element("disk")
        .with_attributes([("type", source_type), ("device", device)])
        .write_inner_content(|w| {
            let mut driver = w
                .create_element("driver")
                .with_attributes([("name", "qemu"), ("type", disk.format.as_str())]);
            if let Some(cache) = &disk.cache {
                driver = driver.with_attribute(("cache", cache.as_str()));
            }
            driver.write_empty()?;
            match &disk.volume {
                Some((pool, volume)) => {
                    w.create_element("source")
                        .with_attributes([("pool", pool.as_str()), ("volume", volume.as_str())])
                        .write_empty()?;
                }
                None => empty_with(w, "source", "file", &disk.file)?,
            }
            w.create_element("target")
                .with_attributes([("dev", dev.as_str()), ("bus", bus_name)])
                .write_empty()?;
            if disk.readonly || disk.cdrom {
                empty(w, "readonly")?;
            }
            empty_with(w, "alias", "name", &format!("ua-{}", disk.name))?;
            Ok(())
        })?;
    Ok(())
}

fn write_interface(
    w: &mut XmlWriter,
    nic: &Nic,
    passt: bool,
    warnings: &mut Vec<String>,
) -> XmlResult {
    if !passt && !nic.forwards.is_empty() {
        let listed: Vec<String> = nic
            .forwards
            .iter()
            .map(|f| format!("{} {}->{}", f.proto, f.host, f.guest))
            .collect();
        warnings.push(format!(
            "libvirt 9.0 cannot forward ports with the slirp backend; left out: {} \
             (use `--net-backend passt`)",
            listed.join(", ")
        ));
    }
    w.create_element("interface")
        .with_attribute(("type", "user"))
        .write_inner_content(|w| {
            if let Some(mac) = &nic.mac {
                empty_with(w, "mac", "address", mac)?;
            }
            empty_with(w, "model", "type", &nic.model)?;
            if passt {
                empty_with(w, "backend", "type", "passt")?;
                for forward in &nic.forwards {
                    let mut element = w
                        .create_element("portForward")
                        .with_attribute(("proto", forward.proto.as_str()));
                    if let Some(address) = &forward.host_addr {
                        element = element.with_attribute(("address", address.as_str()));
                    }
                    element.write_inner_content(|w| {
                        w.create_element("range")
                            .with_attributes([
                                ("start", forward.host.to_string().as_str()),
                                ("to", forward.guest.to_string().as_str()),
                            ])
                            .write_empty()?;
                        Ok(())
                    })?;
                }
            }
            Ok(())
        })?;
    Ok(())
}

fn write_serial(w: &mut XmlWriter, vm: &VmView, options: &LibvirtOptions) -> XmlResult {
    let log = options
        .serial_log
        .clone()
        .unwrap_or_else(|| format!("/var/log/libvirt/qemu/{}-serial.log", vm.name));
    w.create_element("serial")
        .with_attribute(("type", "pty"))
        .write_inner_content(|w| {
            w.create_element("log")
                .with_attributes([("file", log.as_str()), ("append", "on")])
                .write_empty()?;
            empty_with(w, "target", "port", "0")?;
            Ok(())
        })?;
    w.create_element("console")
        .with_attribute(("type", "pty"))
        .write_inner_content(|w| {
            w.create_element("target")
                .with_attributes([("type", "serial"), ("port", "0")])
                .write_empty()?;
            Ok(())
        })?;
    Ok(())
}

fn write_graphics(w: &mut XmlWriter, display: &Display) -> XmlResult {
    match display {
        Display::None => {}
        Display::Vnc { listen, display } => {
            let port = (5900 + u32::from(*display)).to_string();
            let mut graphics = w.create_element("graphics").with_attributes([
                ("type", "vnc"),
                ("port", port.as_str()),
                ("autoport", "no"),
            ]);
            if let Some(listen) = listen {
                graphics = graphics.with_attribute(("listen", listen.as_str()));
            }
            graphics.write_empty()?;
        }
        Display::Spice => {
            w.create_element("graphics")
                .with_attributes([("type", "spice"), ("autoport", "yes")])
                .write_empty()?;
        }
        Display::Sdl => empty_with(w, "graphics", "type", "sdl")?,
        Display::EglHeadless => empty_with(w, "graphics", "type", "egl-headless")?,
    }
    Ok(())
}

/// Hands out `vda`, `sda`, `hda`... per device-name prefix (SATA and SCSI share `sd`).
#[derive(Default)]
struct TargetNames {
    vd: usize,
    sd: usize,
    hd: usize,
}

impl TargetNames {
    fn next(&mut self, bus: Bus) -> (&'static str, String) {
        let (bus_name, prefix, counter) = match bus {
            Bus::Virtio => ("virtio", "vd", &mut self.vd),
            Bus::Sata => ("sata", "sd", &mut self.sd),
            Bus::Scsi => ("scsi", "sd", &mut self.sd),
            Bus::Ide => ("ide", "hd", &mut self.hd),
        };
        let name = format!("{prefix}{}", drive_letters(*counter));
        *counter += 1;
        (bus_name, name)
    }
}

/// 0 -> `a`, 25 -> `z`, 26 -> `aa`, as Linux names disks.
fn drive_letters(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'a' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8_lossy(&letters).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_letters_follow_linux_naming() {
        assert_eq!(drive_letters(0), "a");
        assert_eq!(drive_letters(25), "z");
        assert_eq!(drive_letters(26), "aa");
        assert_eq!(drive_letters(27), "ab");
    }
}
