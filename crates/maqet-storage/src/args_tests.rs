use std::fmt::Write as _;
use std::path::PathBuf;

use super::*;
use crate::SecurityModel;

fn image(name: &str, kind: DriveKind, interface: Interface, media: Media) -> DriveSpec {
    DriveSpec {
        kind,
        interface,
        media,
        readonly: media == Media::Cdrom,
        file: Some(PathBuf::from(format!("/vm/{name}.{}", kind.as_str()))),
        ..DriveSpec::new(name)
    }
}

fn render(drives: &[DriveSpec]) -> String {
    let args = drive_args(drives).unwrap();
    let mut out = String::new();
    for pair in args.chunks(2) {
        writeln!(out, "{}", pair.join(" ")).unwrap();
    }
    out
}

#[test]
fn every_kind_and_interface() {
    let mut golden = String::new();
    for interface in Interface::ALL {
        for (kind, media) in [
            (DriveKind::Qcow2, Media::Disk),
            (DriveKind::Raw, Media::Disk),
            (DriveKind::Raw, Media::Cdrom),
        ] {
            let drive = image("d0", kind, interface, media);
            writeln!(golden, "# {kind} {media:?} on {}", interface.as_str()).unwrap();
            golden.push_str(&render(&[drive]));
        }
    }
    insta::assert_snapshot!(golden);
}

#[test]
fn virtfs_honours_item_level_settings() {
    let share = DriveSpec {
        kind: DriveKind::Virtfs,
        path: Some(PathBuf::from("/srv/share")),
        mount_tag: Some("hostshare".to_owned()),
        security_model: Some(SecurityModel::MappedXattr),
        readonly: true,
        ..DriveSpec::new("projects")
    };
    let plain = DriveSpec {
        kind: DriveKind::Virtfs,
        path: Some(PathBuf::from("/srv/other")),
        ..DriveSpec::new("other")
    };
    insta::assert_snapshot!(render(&[share, plain]));
}

#[test]
fn mixed_drives_share_controllers_and_escape_commas() {
    let mut disk = image("hdd", DriveKind::Qcow2, Interface::Sata, Media::Disk);
    disk.file = Some(PathBuf::from("/vm/a,b/disk.qcow2"));
    disk.cache = Some("writeback".to_owned());
    let mut ro = image("ro", DriveKind::Qcow2, Interface::Virtio, Media::Disk);
    ro.readonly = true;
    let drives = [
        disk,
        image("data", DriveKind::Raw, Interface::Sata, Media::Disk),
        image("cd", DriveKind::Raw, Interface::Virtio, Media::Cdrom),
        image("sd", DriveKind::Qcow2, Interface::Scsi, Media::Disk),
        ro,
    ];
    insta::assert_snapshot!(render(&drives));
}

#[test]
fn refuses_what_qemu_would_refuse() {
    let third_ide: Vec<_> = (0..3)
        .map(|i| {
            image(
                &format!("i{i}"),
                DriveKind::Raw,
                Interface::Ide,
                Media::Disk,
            )
        })
        .collect();
    let seventh_sata: Vec<_> = (0..7)
        .map(|i| {
            image(
                &format!("s{i}"),
                DriveKind::Raw,
                Interface::Sata,
                Media::Disk,
            )
        })
        .collect();
    let mut ro_sata = image("ro", DriveKind::Qcow2, Interface::Sata, Media::Disk);
    ro_sata.readonly = true;
    let mut relative = image("rel", DriveKind::Qcow2, Interface::Virtio, Media::Disk);
    relative.file = Some(PathBuf::from("disk.qcow2"));
    let mut missing = image("nofile", DriveKind::Qcow2, Interface::Virtio, Media::Disk);
    missing.file = None;
    for (drives, culprit) in [
        (third_ide, "i2"),
        (seventh_sata, "s6"),
        (vec![ro_sata], "ro"),
        (vec![relative], "rel"),
        (vec![missing], "nofile"),
    ] {
        match drive_args(&drives) {
            Err(StorageError::DriveLayout { drive, .. }) => assert_eq!(drive, culprit),
            other => panic!("expected a layout error for {culprit}, got {other:?}"),
        }
    }
}

#[test]
fn escaping_doubles_commas() {
    assert_eq!(escape_option_value("a,b,,c"), "a,,b,,,,c");
    assert_eq!(escape_option_value("plain"), "plain");
}
