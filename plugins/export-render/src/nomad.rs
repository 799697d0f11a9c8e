//! Rendering a VM as a Nomad job (JSON job specification, `qemu` task driver).
//!
//! The first disk is fetched as an artifact checked by its SHA-256 and becomes `image_path`;
//! maqet's `ports` become a group network with reserved ports and the driver's `port_map`;
//! the driver shuts the guest down with ACPI (`graceful_shutdown`), through the guest agent
//! when the VM has one.

use std::io::Read;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::ExportError;
use crate::vm::{Bus, VmView};

/// Choices of a Nomad export that are not part of the VM.
#[derive(Debug, Clone, Default)]
pub struct NomadOptions {
    /// Where Nomad clients download the boot disk from (default: its local path, which only a
    /// client on this host can read).
    pub image_source: Option<String>,
}

/// Renders `vm` as a Nomad job for `nomad job run -json` (or `POST /v1/jobs`).
///
/// The first non-cdrom disk becomes the driver's `image_path` (fetched as an artifact);
/// everything else (more disks, kernel boot, shared directories, extra QEMU arguments) goes
/// into `args`.
pub fn render_job(vm: &VmView) -> Result<Value, ExportError> {
    render_job_with(vm, &NomadOptions::default())
}

/// Like [`render_job`] with `options`.
pub fn render_job_with(vm: &VmView, options: &NomadOptions) -> Result<Value, ExportError> {
    let boot_index = vm
        .disks
        .iter()
        .position(|d| !d.cdrom)
        .ok_or_else(|| ExportError::Config {
            vm: vm.name.clone(),
            problem: "it has no disk image to use as Nomad's image_path".to_owned(),
        })?;
    let mut args = vec!["-smp".to_owned(), vm.cpus.to_string()];
    if let Some(machine) = &vm.machine {
        args.extend(["-machine".to_owned(), machine.clone()]);
    }
    for (flag, value) in [
        ("-kernel", &vm.kernel),
        ("-initrd", &vm.initrd),
        ("-append", &vm.append),
    ] {
        if let Some(value) = value {
            args.extend([flag.to_owned(), value.clone()]);
        }
    }
    for (index, disk) in vm
        .disks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != boot_index)
    {
        let interface = match disk.bus {
            Bus::Virtio => "virtio",
            Bus::Sata | Bus::Ide => "ide",
            Bus::Scsi => "scsi",
        };
        let mut drive = format!("file={},format={},if={interface}", disk.file, disk.format);
        if disk.cdrom {
            drive.push_str(",media=cdrom");
        }
        if disk.readonly || disk.cdrom {
            drive.push_str(",readonly=on");
        }
        drive.push_str(&format!(",index={}", index + 1));
        args.extend(["-drive".to_owned(), drive]);
    }
    for dir in &vm.shared_dirs {
        let mut virtfs = format!(
            "local,path={},mount_tag={},security_model={}",
            dir.path, dir.mount_tag, dir.security_model
        );
        if dir.readonly {
            virtfs.push_str(",readonly=on");
        }
        args.extend(["-virtfs".to_owned(), virtfs]);
    }
    args.extend(vm.passthrough.iter().flat_map(|o| o.argv.iter().cloned()));

    let image = &vm.disks[boot_index].file;
    let checksum = sha256_of(image).map_err(|source| ExportError::ReadImage {
        path: image.into(),
        source,
    })?;
    let file_name = image.rsplit('/').next().unwrap_or(image.as_str());
    let source = options
        .image_source
        .clone()
        .unwrap_or_else(|| image.clone());
    let forwards: Vec<_> = vm.nics.iter().flat_map(|n| n.forwards.iter()).collect();
    let label = |host: u16, proto: &str| format!("{proto}{host}");
    let port_map: serde_json::Map<String, Value> = forwards
        .iter()
        .map(|f| (label(f.host, &f.proto), json!(f.guest)))
        .collect();
    let reserved: Vec<Value> = forwards
        .iter()
        .map(|f| json!({"Label": label(f.host, &f.proto), "Value": f.host}))
        .collect();
    let mut config = json!({
        "image_path": format!("local/{file_name}"),
        "accelerator": if vm.kvm { "kvm" } else { "tcg" },
        "graceful_shutdown": true,
        "guest_agent": vm.guest_agent,
        "args": args,
    });
    let mut group = json!({
        "Name": vm.name,
        "Count": 1,
    });
    if !forwards.is_empty() {
        config["port_map"] = json!([port_map]);
        group["Networks"] = json!([{ "ReservedPorts": reserved }]);
    }

    let mut job = json!({
        "Job": {
            "ID": vm.name,
            "Name": vm.name,
            "Type": "service",
            "Datacenters": ["dc1"],
            "Meta": { "maqet_vm_id": vm.vm_id },
            "TaskGroups": [group],
        }
    });
    job["Job"]["TaskGroups"][0]["Tasks"] = json!([{
        "Name": vm.name,
        "Driver": "qemu",
        "Artifacts": [{
            "GetterSource": source,
            "GetterOptions": { "checksum": format!("sha256:{checksum}") },
            "RelativeDest": "local/",
        }],
        "Config": config,
        "Resources": {
            "Cores": vm.cpus,
            "MemoryMB": vm.memory_mib(),
        },
    }]);
    Ok(job)
}

/// The SHA-256 of a file, in hex.
fn sha256_of(path: &str) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
