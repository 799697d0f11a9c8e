//! The `storage` and `ports` keys of a maqet config, read from its typed view
//! ([`VmConfig`]) into the [`VmView`](crate::vm::VmView)'s plain types.

use maqet_config::VmConfig;
use maqet_config::maqet_storage::{DriveKind, Interface, Media};

use crate::error::ExportError;
use crate::vm::{Bus, Disk, PortForward, SharedDir};

pub(crate) fn read_disks(
    config: &VmConfig,
    data_dir: Option<&str>,
    problem: &dyn Fn(String) -> ExportError,
) -> Result<Vec<Disk>, ExportError> {
    let mut disks = Vec::new();
    for drive in config
        .storage
        .iter()
        .filter(|d| d.kind != DriveKind::Virtfs)
    {
        let drive_name = drive.name.clone();
        let kind = drive.kind.as_str().to_owned();
        let cdrom = drive.media == Media::Cdrom;
        let file = match (&drive.file, data_dir) {
            (Some(file), _) => file.to_string_lossy().into_owned(),
            (None, Some(dir)) if drive.kind == DriveKind::Qcow2 => {
                format!("{dir}/{drive_name}.qcow2")
            }
            _ => return Err(problem(format!("drive `{drive_name}` has no file"))),
        };
        // maqet records the default file it picks; files in its data dir are its own.
        let user_file = data_dir
            .is_none_or(|dir| !file.starts_with(&format!("{}/", dir.trim_end_matches('/'))));
        let bus = match drive.interface {
            Interface::Sata => Bus::Sata,
            Interface::Ide => Bus::Ide,
            Interface::Scsi => Bus::Scsi,
            Interface::None => {
                return Err(problem(format!(
                    "drive `{drive_name}` has `interface: none` (no device), which libvirt cannot \
                     describe; give it a bus"
                )));
            }
            // QEMU puts a CD-ROM on `interface: virtio` (the default) on virtio-scsi.
            Interface::Virtio if cdrom => Bus::Scsi,
            Interface::Virtio => Bus::Virtio,
        };
        disks.push(Disk {
            name: drive_name,
            file,
            format: kind,
            bus,
            cdrom,
            readonly: drive.readonly,
            cache: drive.cache.clone(),
            size: drive.size.map(|size| size.to_string()),
            backing_file: drive
                .backing_file
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            user_file,
            volume: None,
        });
    }
    Ok(disks)
}

pub(crate) fn read_shared_dirs(
    config: &VmConfig,
    problem: &dyn Fn(String) -> ExportError,
) -> Result<Vec<SharedDir>, ExportError> {
    let mut dirs = Vec::new();
    for drive in config
        .storage
        .iter()
        .filter(|d| d.kind == DriveKind::Virtfs)
    {
        let path = drive
            .path
            .as_ref()
            .ok_or_else(|| problem(format!("virtfs drive `{}` has no path", drive.name)))?;
        dirs.push(SharedDir {
            name: drive.name.clone(),
            path: path.to_string_lossy().into_owned(),
            mount_tag: drive.effective_mount_tag().to_owned(),
            security_model: drive
                .security_model
                .map_or("passthrough", |m| m.as_str())
                .to_owned(),
            readonly: drive.readonly,
        });
    }
    Ok(dirs)
}

/// maqet's `ports` key: `[{host: 2222, guest: 22, proto: tcp, host_addr: 127.0.0.1}]`.
pub(crate) fn read_ports(config: &VmConfig) -> Vec<PortForward> {
    config
        .ports
        .iter()
        .map(|port| PortForward {
            proto: port.proto.clone(),
            // maqet opens a port on 127.0.0.1 unless `host_addr` says otherwise.
            host_addr: Some(port.host_addr.to_string()),
            host: port.host,
            guest: port.guest,
        })
        .collect()
}
