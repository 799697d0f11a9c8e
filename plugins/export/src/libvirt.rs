//! Rendering a VM as a libvirt domain XML.

use quick_xml::Writer;
use quick_xml::events::BytesText;

use crate::error::ExportError;
use crate::vm::{Bus, Disk, VmView};

const QEMU_NAMESPACE: &str = "http://libvirt.org/schemas/domain/qemu/1.0";

type XmlWriter = Writer<Vec<u8>>;
type XmlResult = std::io::Result<()>;

/// Renders `vm` as a `<domain>` document for `virsh define`.
pub fn render_domain(vm: &VmView) -> Result<String, ExportError> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_domain(&mut writer, vm).map_err(|source| ExportError::Xml { source })?;
    let mut xml = String::from_utf8_lossy(&writer.into_inner()).into_owned();
    xml.push('\n');
    Ok(xml)
}

fn write_domain(w: &mut XmlWriter, vm: &VmView) -> XmlResult {
    let mut domain = w
        .create_element("domain")
        .with_attribute(("type", if vm.kvm { "kvm" } else { "qemu" }));
    if !vm.extra_args.is_empty() {
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
            &format!("Exported from maqet VM {}", vm.name),
        )?;
        w.create_element("memory")
            .with_attribute(("unit", "KiB"))
            .write_text_content(BytesText::new(&vm.memory_kib.to_string()))?;
        text_element(w, "vcpu", &vm.cpus.to_string())?;
        write_os(w, vm)?;
        if arch(vm) == "x86_64" {
            w.create_element("features")
                .write_inner_content(|w| w.create_element("acpi").write_empty().map(|_| ()))?;
        }
        write_devices(w, vm)?;
        if !vm.extra_args.is_empty() {
            w.create_element("qemu:commandline")
                .write_inner_content(|w| {
                    for arg in &vm.extra_args {
                        w.create_element("qemu:arg")
                            .with_attribute(("value", arg.as_str()))
                            .write_empty()?;
                    }
                    Ok(())
                })?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_os(w: &mut XmlWriter, vm: &VmView) -> XmlResult {
    w.create_element("os").write_inner_content(|w| {
        let mut os_type = w.create_element("type").with_attribute(("arch", arch(vm)));
        if let Some(machine) = &vm.machine {
            os_type = os_type.with_attribute(("machine", machine.as_str()));
        }
        os_type.write_text_content(BytesText::new("hvm"))?;
        for (element, value) in [
            ("kernel", &vm.kernel),
            ("initrd", &vm.initrd),
            ("cmdline", &vm.append),
        ] {
            if let Some(value) = value {
                text_element(w, element, value)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

fn write_devices(w: &mut XmlWriter, vm: &VmView) -> XmlResult {
    w.create_element("devices").write_inner_content(|w| {
        if let Some(binary) = vm.binary.as_deref().filter(|b| b.starts_with('/')) {
            text_element(w, "emulator", binary)?;
        }
        let mut targets = TargetNames::default();
        for disk in &vm.disks {
            write_disk(w, disk, &mut targets)?;
        }
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
                        w.create_element("readonly").write_empty()?;
                    }
                    Ok(())
                })?;
        }
        if let Some(graphics) = graphics_type(vm.display.as_deref()) {
            empty_with(w, "graphics", "type", graphics)?;
        }
        empty_with(w, "serial", "type", "pty")?;
        empty_with(w, "console", "type", "pty")?;
        Ok(())
    })?;
    Ok(())
}

fn write_disk(w: &mut XmlWriter, disk: &Disk, targets: &mut TargetNames) -> XmlResult {
    // libvirt has no virtio cdrom; maqet's `virtio`/`none` cdroms become SATA.
    let bus = match (disk.cdrom, disk.bus) {
        (true, Bus::Virtio) => Bus::Sata,
        (_, bus) => bus,
    };
    let (bus_name, dev) = targets.next(bus);
    let device = if disk.cdrom { "cdrom" } else { "disk" };
    w.create_element("disk")
        .with_attributes([("type", "file"), ("device", device)])
        .write_inner_content(|w| {
            w.create_element("driver")
                .with_attributes([("name", "qemu"), ("type", disk.format.as_str())])
                .write_empty()?;
            empty_with(w, "source", "file", &disk.file)?;
            w.create_element("target")
                .with_attributes([("dev", dev.as_str()), ("bus", bus_name)])
                .write_empty()?;
            if disk.readonly || disk.cdrom {
                w.create_element("readonly").write_empty()?;
            }
            w.create_element("alias")
                .with_attribute(("name", format!("ua-{}", disk.name).as_str()))
                .write_empty()?;
            Ok(())
        })?;
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

fn arch(vm: &VmView) -> &str {
    vm.binary
        .as_deref()
        .and_then(|b| b.rsplit('/').next())
        .and_then(|b| b.strip_prefix("qemu-system-"))
        .unwrap_or("x86_64")
}

fn graphics_type(display: Option<&str>) -> Option<&'static str> {
    let display = display?.split(',').next()?;
    match display {
        "vnc" => Some("vnc"),
        "spice-app" | "spice" => Some("spice"),
        "sdl" | "gtk" => Some("sdl"),
        _ => None,
    }
}

fn looks_like_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn text_element(w: &mut XmlWriter, name: &str, text: &str) -> XmlResult {
    w.create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

fn empty_with(w: &mut XmlWriter, name: &str, attribute: &str, value: &str) -> XmlResult {
    w.create_element(name)
        .with_attribute((attribute, value))
        .write_empty()?;
    Ok(())
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
    fn uuid_shape_is_checked() {
        assert!(looks_like_uuid("1b4e28ba-2fa1-11d2-883f-0016d3cca427"));
        assert!(!looks_like_uuid("vm-1234"));
    }
}
