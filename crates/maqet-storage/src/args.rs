//! QEMU command-line arguments for a VM's drives.
//!
//! Every image drive becomes `-drive if=none,id=<name>.drive,node-name=<name>,...` plus a
//! `-device ...,drive=<name>.drive,id=<name>`. The block node-name is the drive name (QMP
//! `snapshot-save` takes node-names); the backend id gets a `.drive` suffix because QEMU
//! refuses a backend id equal to a node-name, and drive names never contain dots.
//!
//! Buses: `virtio` → `virtio-blk-pci` (a CD-ROM on virtio becomes `scsi-cd` on the
//! virtio-scsi controller `scsi0`, virtio's own way to carry CD-ROMs); `sata` → one extra
//! `ahci` controller `ahci0` (6 ports); `ide` → the machine's own `ide.0`/`ide.1` buses, which
//! exist on both `pc` (PIIX) and `q35` (ICH9 AHCI), so at most 2 IDE drives (use `sata` for
//! more); `scsi` → `virtio-scsi-pci` controller `scsi0`; `none` → only the `-drive`.

use std::path::Path;

use crate::{DriveKind, DriveSpec, Interface, Media, StorageError};

/// Ports of the `ahci0` controller.
const AHCI_PORTS: usize = 6;
/// IDE buses usable on both `pc` and `q35` (`ide.0`, `ide.1`).
const IDE_BUSES: usize = 2;

/// The QMP block node-name of a drive (its name).
pub fn node_name(drive: &DriveSpec) -> &str {
    &drive.name
}

/// The QEMU `-drive` backend id of a drive (`<name>.drive`).
pub fn backend_id(drive: &DriveSpec) -> String {
    format!("{}.drive", drive.name)
}

/// Escapes a value for a QEMU option string (`,` becomes `,,`).
pub fn escape_option_value(value: &str) -> String {
    value.replace(',', ",,")
}

/// Builds the QEMU arguments for `drives`.
///
/// Image drives must have an absolute `file` and virtfs drives an absolute `path` (run
/// [`crate::resolve_paths`] and [`crate::assign_default_files`] first).
pub fn drive_args(drives: &[DriveSpec]) -> Result<Vec<String>, StorageError> {
    let mut args = Vec::new();
    if drives
        .iter()
        .any(|d| d.kind.is_image() && d.interface == Interface::Sata)
    {
        push(&mut args, "-device", "ahci,id=ahci0".to_owned());
    }
    if drives.iter().any(needs_scsi_controller) {
        push(&mut args, "-device", "virtio-scsi-pci,id=scsi0".to_owned());
    }
    let (mut sata_port, mut ide_bus) = (0, 0);
    for drive in drives {
        if drive.kind == DriveKind::Virtfs {
            virtfs_args(drive, &mut args)?;
            continue;
        }
        push(&mut args, "-drive", blockdev_option(drive)?);
        let device = match drive.interface {
            Interface::None => continue,
            Interface::Virtio | Interface::Scsi if drive.media == Media::Cdrom => {
                "scsi-cd,bus=scsi0.0".to_owned()
            }
            Interface::Virtio => "virtio-blk-pci".to_owned(),
            Interface::Scsi => "scsi-hd,bus=scsi0.0".to_owned(),
            Interface::Sata => {
                let port = next_slot(
                    &mut sata_port,
                    AHCI_PORTS,
                    drive,
                    "sata",
                    "use virtio or scsi",
                )?;
                format!("{},bus=ahci0.{port}", ide_driver(drive)?)
            }
            Interface::Ide => {
                let bus = next_slot(&mut ide_bus, IDE_BUSES, drive, "ide", "use sata")?;
                format!("{},bus=ide.{bus}", ide_driver(drive)?)
            }
        };
        push(
            &mut args,
            "-device",
            format!("{device},drive={},id={}", backend_id(drive), drive.name),
        );
    }
    Ok(args)
}

fn push(args: &mut Vec<String>, flag: &str, value: String) {
    args.push(flag.to_owned());
    args.push(value);
}

fn needs_scsi_controller(drive: &DriveSpec) -> bool {
    drive.kind.is_image()
        && (drive.interface == Interface::Scsi
            || (drive.interface == Interface::Virtio && drive.media == Media::Cdrom))
}

fn blockdev_option(drive: &DriveSpec) -> Result<String, StorageError> {
    let file = absolute_text(drive, drive.file.as_deref(), "file")?;
    let mut option = format!(
        "file={},format={},if=none,id={},node-name={}",
        escape_option_value(file),
        drive.kind,
        backend_id(drive),
        node_name(drive)
    );
    if drive.media == Media::Cdrom {
        option.push_str(",media=cdrom");
    }
    if drive.readonly || drive.media == Media::Cdrom {
        option.push_str(",read-only=on");
    }
    if let Some(cache) = &drive.cache {
        option.push_str(",cache=");
        option.push_str(&escape_option_value(cache));
    }
    Ok(option)
}

fn virtfs_args(drive: &DriveSpec, args: &mut Vec<String>) -> Result<(), StorageError> {
    let path = absolute_text(drive, drive.path.as_deref(), "path")?;
    let model = drive.security_model.unwrap_or_default().as_str();
    let mut fsdev = format!(
        "local,id={},path={},security_model={model}",
        drive.name,
        escape_option_value(path)
    );
    if drive.readonly {
        fsdev.push_str(",readonly=on");
    }
    push(args, "-fsdev", fsdev);
    push(
        args,
        "-device",
        format!(
            "virtio-9p-pci,fsdev={},mount_tag={},id={}",
            drive.name,
            escape_option_value(drive.effective_mount_tag()),
            drive.name
        ),
    );
    Ok(())
}

fn ide_driver(drive: &DriveSpec) -> Result<&'static str, StorageError> {
    match (drive.media, drive.readonly) {
        (Media::Cdrom, _) => Ok("ide-cd"),
        (Media::Disk, false) => Ok("ide-hd"),
        (Media::Disk, true) => Err(layout(
            drive,
            "QEMU cannot attach a read-only hard disk to IDE/SATA; use interface virtio or scsi, or media cdrom",
        )),
    }
}

fn next_slot(
    counter: &mut usize,
    limit: usize,
    drive: &DriveSpec,
    bus: &str,
    advice: &str,
) -> Result<usize, StorageError> {
    let slot = *counter;
    if slot >= limit {
        return Err(layout(
            drive,
            &format!("at most {limit} {bus} drives fit on one VM; {advice} for the others"),
        ));
    }
    *counter += 1;
    Ok(slot)
}

fn absolute_text<'d>(
    drive: &DriveSpec,
    path: Option<&'d Path>,
    key: &str,
) -> Result<&'d str, StorageError> {
    let Some(path) = path else {
        return Err(layout(
            drive,
            &format!("`{key}` is not set; resolve default paths first"),
        ));
    };
    if !path.is_absolute() {
        return Err(layout(
            drive,
            &format!(
                "`{key}` {} is relative; resolve it against the config directory first",
                path.display()
            ),
        ));
    }
    path.to_str().ok_or_else(|| {
        layout(
            drive,
            &format!("`{key}` {} is not valid UTF-8; rename it", path.display()),
        )
    })
}

fn layout(drive: &DriveSpec, reason: &str) -> StorageError {
    StorageError::DriveLayout {
        drive: drive.name.clone(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
