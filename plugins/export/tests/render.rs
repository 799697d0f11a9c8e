//! What `maqet export` produces for a realistic VM, read back the way libvirt and Nomad would.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::Command;

use maqet_export::{Format, render};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};
use serde_json::{Value, json};

fn info() -> Value {
    json!({
        "name": "web<&>",
        "vm_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "data_dir": "/var/lib/maqet/vms/web",
        "config": {
            "binary": "/usr/bin/qemu-system-x86_64",
            "memory": "256M",
            "cpu": 2,
            "machine": "q35",
            "accel": "kvm",
            "display": "vnc=:1",
            "args": ["-nodefaults"],
            "arguments": [
                {"kernel": "/boot/vmlinuz"},
                {"initrd": "/boot/initrd.img"},
                {"append": "console=ttyS0 root=/dev/vda"},
                {"device": {"virtio-rng-pci": null, "id": "rng0"}}
            ],
            "storage": [
                {"name": "root", "type": "qcow2", "file": "/vms/web.qcow2", "size": "10G",
                 "interface": "virtio", "media": "disk"},
                {"name": "data", "type": "raw", "file": "/vms/data & more.img", "interface": "sata"},
                {"name": "old", "type": "raw", "file": "/vms/old.img", "interface": "ide",
                 "readonly": true},
                {"name": "cidata", "type": "raw", "file": "/vms/cidata.iso", "media": "cdrom",
                 "readonly": true, "interface": "sata"},
                {"name": "share", "type": "virtfs", "path": "/srv/share", "mount_tag": "host0",
                 "security_model": "mapped-xattr"}
            ]
        },
        "qemu_argv": ["/usr/bin/qemu-system-x86_64", "-m", "256M"]
    })
}

/// The elements of an XML document, each with its slash-joined path, attributes and text.
struct Doc(Vec<(String, HashMap<String, String>, String)>);

/// Reads `xml` with quick-xml; panics if it is not well-formed.
fn roxml(xml: &str) -> Doc {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut elements = Vec::new();
    loop {
        let event = reader.read_event().expect("export must be well-formed XML");
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.name().as_ref().to_owned();
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        let key = a.key.as_ref().to_owned();
                        (
                            key,
                            a.normalized_value(XmlVersion::Implicit1_0)
                                .unwrap()
                                .into_owned(),
                        )
                    })
                    .collect();
                let path = stack
                    .iter()
                    .chain([&name])
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("/");
                elements.push((path, attrs, String::new()));
                if matches!(event, Event::Start(_)) {
                    stack.push(name);
                    open.push(elements.len() - 1);
                }
            }
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    elements[i].2.push_str(t.xml10_content().trim());
                }
            }
            Event::GeneralRef(r) => {
                let name = r.as_ref().to_owned();
                let resolved = resolve_predefined_entity(&name).expect("only predefined entities");
                if let Some(&i) = open.last() {
                    elements[i].2.push_str(resolved);
                }
            }
            Event::End(_) => {
                stack.pop();
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    Doc(elements)
}

impl Doc {
    fn all<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a HashMap<String, String>> {
        self.0
            .iter()
            .filter(move |(p, _, _)| p == path)
            .map(|(_, a, _)| a)
    }

    fn text(&self, path: &str) -> &str {
        let found = self.0.iter().find(|(p, _, _)| p == path);
        &found.unwrap_or_else(|| panic!("no <{path}>")).2
    }

    fn attr<'a>(&'a self, path: &'a str, name: &str) -> &'a str {
        let attrs = self
            .all(path)
            .next()
            .unwrap_or_else(|| panic!("no <{path}>"));
        attrs
            .get(name)
            .unwrap_or_else(|| panic!("<{path}> has no {name}"))
    }
}

#[test]
fn libvirt_domain_carries_memory_cpus_disks_and_kernel() {
    let xml = render(&info(), Format::Libvirt).unwrap();
    let doc = roxml(&xml);
    assert_eq!(doc.text("domain/name"), "web<&>");
    assert_eq!(doc.attr("domain", "type"), "kvm");
    assert_eq!(doc.text("domain/memory"), "262144");
    assert_eq!(doc.attr("domain/memory", "unit"), "KiB");
    assert_eq!(doc.text("domain/vcpu"), "2");
    assert_eq!(doc.attr("domain/os/type", "machine"), "q35");
    assert_eq!(doc.text("domain/os/kernel"), "/boot/vmlinuz");
    assert_eq!(doc.text("domain/os/cmdline"), "console=ttyS0 root=/dev/vda");

    let targets: Vec<(String, String)> = doc
        .all("domain/devices/disk/target")
        .map(|attrs| (attrs["dev"].clone(), attrs["bus"].clone()))
        .collect();
    // q35 has no PIIX IDE: maqet's `ide` drive sits on the ICH9 AHCI there.
    let expected = [
        ("vda", "virtio"),
        ("sda", "sata"),
        ("sdb", "sata"),
        ("sdc", "sata"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(d, b)| (d.to_string(), b.to_string()))
        .collect();
    assert_eq!(targets, expected);
    let sources: Vec<String> = doc
        .all("domain/devices/disk/source")
        .map(|a| a["file"].clone())
        .collect();
    assert_eq!(sources[1], "/vms/data & more.img");
    let devices: Vec<String> = doc
        .all("domain/devices/disk")
        .map(|a| a["device"].clone())
        .collect();
    assert_eq!(devices, ["disk", "disk", "disk", "cdrom"]);
    assert_eq!(
        doc.attr("domain/devices/filesystem", "accessmode"),
        "mapped"
    );
    assert_eq!(doc.attr("domain/devices/filesystem/target", "dir"), "host0");
    // `-nodefaults` and the virtio RNG have libvirt models: nothing is passed through.
    assert_eq!(doc.all("domain/qemu:commandline/qemu:arg").count(), 0);
    assert_eq!(doc.attr("domain/devices/rng", "model"), "virtio");
    assert_eq!(
        doc.all("domain/devices/video").count(),
        0,
        "-nodefaults: no VGA"
    );
    assert_eq!(
        doc.all("domain/devices/interface").count(),
        0,
        "-nodefaults: no NIC"
    );
}

#[test]
fn libvirt_domain_passes_virt_xml_validate() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("domain.xml");
    let mut info = info();
    info["name"] = json!("web");
    std::fs::write(&file, render(&info, Format::Libvirt).unwrap()).unwrap();
    let has = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
    };
    assert!(
        has("virt-xml-validate").is_ok_and(|o| o.status.success()),
        "virt-xml-validate is missing: run scripts/setup.sh (apt-get install libvirt-clients)"
    );
    let output = Command::new("virt-xml-validate")
        .arg(&file)
        .arg("domain")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "virt-xml-validate rejected the domain:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn nomad_job_uses_qemu_driver_with_first_disk_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("web.qcow2");
    std::fs::write(&image, b"not really qcow2").unwrap();
    let mut info = info();
    info["config"]["storage"][0]["file"] = json!(image.to_string_lossy());
    let job: Value = serde_json::from_str(&render(&info, Format::Nomad).unwrap()).unwrap();
    let task = &job["Job"]["TaskGroups"][0]["Tasks"][0];
    assert_eq!(task["Driver"], "qemu");
    assert_eq!(task["Config"]["image_path"], "local/web.qcow2");
    assert_eq!(
        task["Artifacts"][0]["GetterSource"],
        json!(image.to_string_lossy())
    );
    let checksum = task["Artifacts"][0]["GetterOptions"]["checksum"]
        .as_str()
        .unwrap();
    assert!(
        checksum.starts_with("sha256:") && checksum.len() == 71,
        "{checksum}"
    );
    assert_eq!(task["Config"]["accelerator"], "kvm");
    assert_eq!(task["Resources"]["MemoryMB"], 256);
    assert_eq!(task["Resources"]["Cores"], 2);
    let args: Vec<&str> = task["Config"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["-kernel", "/boot/vmlinuz"]),
        "{args:?}"
    );
    assert!(
        args.iter()
            .any(|a| a.starts_with("file=/vms/cidata.iso") && a.contains("media=cdrom"))
    );
    assert!(
        args.iter()
            .any(|a| a.starts_with("local,path=/srv/share,mount_tag=host0"))
    );
    assert!(
        !args.iter().any(|a| a.contains("web.qcow2")),
        "boot disk given twice"
    );
}

#[test]
fn nomad_export_without_disk_says_why() {
    let mut info = info();
    info["config"]["storage"] = json!([]);
    let err = render(&info, Format::Nomad).unwrap_err().to_string();
    assert!(err.contains("image_path"), "{err}");
}
