//! Rendering a VM as a Nomad job (JSON job specification, `qemu` task driver).

use serde_json::{Value, json};

use crate::error::ExportError;
use crate::vm::{Bus, VmView};

/// Renders `vm` as a Nomad job for `nomad job run -json` (or `POST /v1/jobs`).
///
/// The first non-cdrom disk becomes the driver's `image_path`; everything else (more disks,
/// kernel boot, shared directories, extra QEMU arguments) goes into `args`.
pub fn render_job(vm: &VmView) -> Result<Value, ExportError> {
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
    args.extend(vm.extra_args.iter().cloned());

    Ok(json!({
        "Job": {
            "ID": vm.name,
            "Name": vm.name,
            "Type": "service",
            "Datacenters": ["dc1"],
            "Meta": { "maqet_vm_id": vm.vm_id },
            "TaskGroups": [{
                "Name": vm.name,
                "Count": 1,
                "Tasks": [{
                    "Name": vm.name,
                    "Driver": "qemu",
                    "Config": {
                        "image_path": vm.disks[boot_index].file,
                        "accelerator": if vm.kvm { "kvm" } else { "tcg" },
                        "graceful_shutdown": true,
                        "args": args,
                    },
                    "Resources": {
                        "Cores": vm.cpus,
                        "MemoryMB": vm.memory_mib(),
                    },
                }],
            }],
        }
    }))
}
