//! The `<devices>` of a domain: disks, shares, NICs, consoles, the guest agent channel,
//! graphics and video, and the defaults libvirt would add that QEMU would not. Each PCI device
//! gets the `<address>` QEMU gives it under maqet, when maqet's command line is known.

use super::LibvirtOptions;
use super::network::{NetworkPlan, NicForm, NicPlan};
use super::xml::{XmlResult, XmlWriter, empty, empty_with, text_element};
use crate::vm::{Bus, Disk, Display, VmView};

/// `<address type='pci' ... slot='0xNN'/>` on bus 0, when the slot is known.
fn write_address(w: &mut XmlWriter, slot: Option<u8>) -> XmlResult {
    if let Some(slot) = slot {
        let slot = format!("{slot:#04x}");
        w.create_element("address")
            .with_attributes([
                ("type", "pci"),
                ("domain", "0x0000"),
                ("bus", "0x00"),
                ("slot", slot.as_str()),
                ("function", "0x0"),
            ])
            .write_empty()?;
    }
    Ok(())
}

pub(super) fn write_devices(
    w: &mut XmlWriter,
    vm: &VmView,
    options: &LibvirtOptions,
    net: &NetworkPlan,
) -> XmlResult {
    w.create_element("devices").write_inner_content(|w| {
        if let Some(binary) = vm.binary.as_deref().filter(|b| b.starts_with('/')) {
            text_element(w, "emulator", binary)?;
        }
        let q35 = vm.machine_or_default().starts_with("q35");
        let mut targets = TargetNames::default();
        for disk in &vm.disks {
            let slot = (disk.bus == Bus::Virtio && !disk.cdrom)
                .then(|| vm.pci.by_id(&disk.name))
                .flatten();
            write_disk(w, disk, q35, &mut targets, slot)?;
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
                    write_address(w, vm.pci.by_id(&dir.name))?;
                    Ok(())
                })?;
        }
        for nic in &net.nics {
            if let NicForm::Interface { passt } = nic.form {
                write_interface(w, nic, passt)?;
            }
        }
        write_serial(w, vm, options)?;
        if vm.guest_agent {
            w.create_element("controller")
                .with_attributes([("type", "virtio-serial"), ("index", "0")])
                .write_inner_content(|w| write_address(w, vm.pci.by_id("maqet-qga-serial")))?;
            w.create_element("channel")
                .with_attribute(("type", "unix"))
                .write_inner_content(|w| {
                    w.create_element("target")
                        .with_attributes([("type", "virtio"), ("name", "org.qemu.guest_agent.0")])
                        .write_empty()?;
                    Ok(())
                })?;
        }
        if vm.tpm {
            let model = if vm.machine_or_default().starts_with("q35") {
                "tpm-crb"
            } else {
                "tpm-tis"
            };
            w.create_element("tpm")
                .with_attribute(("model", model))
                .write_inner_content(|w| {
                    w.create_element("backend")
                        .with_attributes([("type", "emulator"), ("version", "2.0")])
                        .write_empty()?;
                    Ok(())
                })?;
        }
        write_graphics(w, &vm.display)?;
        if let Some(model) = &vm.video {
            w.create_element("video").write_inner_content(|w| {
                empty_with(w, "model", "type", model)?;
                if model != "none" {
                    write_address(w, vm.pci.video())?;
                }
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
                    write_address(w, vm.pci.by_driver("virtio-rng"))?;
                    Ok(())
                })?;
        }
        // libvirt adds a balloon by itself; QEMU has one only when asked.
        if vm.balloon {
            w.create_element("memballoon")
                .with_attribute(("model", "virtio"))
                .write_inner_content(|w| write_address(w, vm.pci.by_driver("virtio-balloon")))?;
        } else {
            empty_with(w, "memballoon", "model", "none")?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_controllers(w: &mut XmlWriter, vm: &VmView) -> XmlResult {
    if vm.disks.iter().any(|d| d.bus == Bus::Scsi) {
        w.create_element("controller")
            .with_attributes([("type", "scsi"), ("index", "0"), ("model", "virtio-scsi")])
            .write_inner_content(|w| write_address(w, vm.pci.by_id("scsi0")))?;
    }
    // maqet's `sata` drives hang off its own AHCI; on `pc` libvirt adds one where it likes.
    let q35 = vm.machine_or_default().starts_with("q35");
    if !q35 && vm.disks.iter().any(|d| d.bus == Bus::Sata) {
        w.create_element("controller")
            .with_attributes([("type", "sata"), ("index", "0")])
            .write_inner_content(|w| write_address(w, vm.pci.by_id("ahci0")))?;
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
        Some(model) => {
            let driver = match model {
                "ich9-ehci1" => "ich9-usb-ehci1",
                "ehci" => "usb-ehci",
                other => other,
            };
            let slot = if model.contains("piix") {
                None
            } else {
                vm.pci.by_driver(driver)
            };
            controller
                .with_attribute(("model", model))
                .write_inner_content(|w| write_address(w, slot))?
        }
    };
    Ok(())
}

fn write_disk(
    w: &mut XmlWriter,
    disk: &Disk,
    q35: bool,
    targets: &mut TargetNames,
    slot: Option<u8>,
) -> XmlResult {
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
            write_address(w, slot)?;
            Ok(())
        })?;
    Ok(())
}

fn write_interface(w: &mut XmlWriter, plan: &NicPlan, passt: bool) -> XmlResult {
    w.create_element("interface")
        .with_attribute(("type", "user"))
        .write_inner_content(|w| {
            empty_with(w, "mac", "address", &plan.mac)?;
            empty_with(w, "model", "type", &plan.nic.model)?;
            if passt {
                empty_with(w, "backend", "type", "passt")?;
                for forward in &plan.nic.forwards {
                    let mut element = w
                        .create_element("portForward")
                        .with_attribute(("proto", forward.proto.as_str()));
                    if let Some(address) = forward.host_addr.as_deref().filter(|a| !a.is_empty()) {
                        element = element.with_attribute(("address", address));
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
            write_address(w, plan.slot)?;
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

    #[test]
    fn uefi_secure_boot_and_tpm_become_libvirt_firmware_and_tpm_elements() {
        let info = serde_json::json!({"name": "sb", "vm_id": "1", "config": {
            "firmware": "uefi", "secure_boot": true, "tpm": true}});
        let vm = VmView::from_info(&info).unwrap();
        let xml = super::super::render_domain(&vm).unwrap();
        for part in [
            r#"<os firmware="efi">"#,
            r#"machine="q35""#,
            r#"<feature enabled="yes" name="secure-boot"/>"#,
            r#"<feature enabled="yes" name="enrolled-keys"/>"#,
            r#"<loader secure="yes"/>"#,
            r#"<smm state="on"/>"#,
            r#"<tpm model="tpm-crb">"#,
            r#"<backend type="emulator" version="2.0"/>"#,
        ] {
            assert!(xml.contains(part), "{part} missing:\n{xml}");
        }
        let info = serde_json::json!({"name": "pc", "vm_id": "2", "config": {
            "firmware": "uefi", "machine": "pc", "tpm": true}});
        let xml = super::super::render_domain(&VmView::from_info(&info).unwrap()).unwrap();
        assert!(
            xml.contains(r#"<feature enabled="no" name="secure-boot"/>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<tpm model="tpm-tis">"#), "{xml}");
        assert!(!xml.contains("<loader"), "{xml}");
        let bios = serde_json::json!({"name": "b", "vm_id": "3", "config": {}});
        let xml = super::super::render_domain(&VmView::from_info(&bios).unwrap()).unwrap();
        assert!(!xml.contains("firmware") && !xml.contains("<tpm"), "{xml}");
    }

    #[test]
    fn the_vm_s_own_variables_become_the_nvram_element() {
        let info = serde_json::json!({"name": "sb", "vm_id": "1",
            "config": {"firmware": "uefi", "secure_boot": true},
            "firmware": {"nvram": "/d/firmware/uefi-vars.qcow2", "nvram_exists": true,
                "vars_template": "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"}});
        let vm = VmView::from_info(&info).unwrap();
        assert_eq!(
            vm.nvram_source.as_deref(),
            Some("/d/firmware/uefi-vars.qcow2")
        );
        let options = LibvirtOptions {
            nvram: Some("/exports/sb_VARS.fd".into()),
            ..LibvirtOptions::default()
        };
        let xml = super::super::render_domain_with(&vm, &options)
            .unwrap()
            .text;
        assert!(xml.contains("<nvram>/exports/sb_VARS.fd</nvram>"), "{xml}");
        // Without a copy (printed to stdout, or never started) libvirt makes fresh variables.
        let xml = super::super::render_domain(&vm).unwrap();
        assert!(!xml.contains("<nvram"), "{xml}");
        let mut unstarted = info.clone();
        unstarted["firmware"]["nvram_exists"] = false.into();
        assert_eq!(VmView::from_info(&unstarted).unwrap().nvram_source, None);
    }
}
