//! Starts real `qemu-system-x86_64 -accel tcg -S` with the arguments `drive_args` renders, for
//! every kind × interface × media on the `pc` and `q35` machines, and checks through QMP that
//! every drive's node-name and device exist. QEMU is killed whenever a test ends early.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use maqet_storage::{
    ByteSize, DriveKind, DriveSpec, ImageFormat, Interface, Media, QemuImg, SecurityModel,
    drive_args,
};
use serde_json::Value;

const MACHINES: [&str; 2] = ["pc", "q35"];

/// Kills QEMU when dropped (a failing assertion must not leave it running).
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Images {
    _dir: tempfile::TempDir,
    qcow2: PathBuf,
    raw: PathBuf,
    iso: PathBuf,
    share: PathBuf,
}

fn images() -> Images {
    let dir = tempfile::tempdir().unwrap();
    let qemu_img = QemuImg::new();
    let qcow2 = dir.path().join("disk,with,commas.qcow2");
    qemu_img
        .create(&qcow2, ImageFormat::Qcow2, Some(ByteSize(16 << 20)), None)
        .unwrap();
    let raw = dir.path().join("disk.raw");
    qemu_img
        .create(&raw, ImageFormat::Raw, Some(ByteSize(1 << 20)), None)
        .unwrap();
    let iso = dir.path().join("install.iso");
    std::fs::write(&iso, vec![0u8; 1 << 20]).unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    Images {
        qcow2,
        raw,
        iso,
        share,
        _dir: dir,
    }
}

fn image_drive(
    name: &str,
    images: &Images,
    kind: DriveKind,
    interface: Interface,
    media: Media,
) -> DriveSpec {
    let file = match (kind, media) {
        (DriveKind::Qcow2, _) => &images.qcow2,
        (_, Media::Cdrom) => &images.iso,
        _ => &images.raw,
    };
    DriveSpec {
        kind,
        interface,
        media,
        readonly: media == Media::Cdrom,
        file: Some(file.clone()),
        ..DriveSpec::new(name)
    }
}

/// Runs QEMU paused with `args`, asks QMP for block nodes and peripheral devices, then quits.
/// Panics with QEMU's stderr when it refuses the arguments.
fn run_qemu(machine: &str, nodefaults: bool, args: &[String]) -> (Vec<String>, Vec<String>) {
    let mut command = Command::new("qemu-system-x86_64");
    command.args([
        "-accel", "tcg", "-display", "none", "-S", "-machine", machine, "-qmp", "stdio",
    ]);
    if nodefaults {
        command.arg("-nodefaults");
    }
    let child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 must be installed");
    let mut qemu = Qemu(child);
    let mut stdin = qemu.0.stdin.take().unwrap();
    let stdout = qemu.0.stdout.take().unwrap();
    let mut stderr = qemu.0.stderr.take().unwrap();
    let requests = [
        r#"{"execute":"qmp_capabilities"}"#,
        r#"{"execute":"query-named-block-nodes","arguments":{"flat":true},"id":"nodes"}"#,
        r#"{"execute":"qom-list","arguments":{"path":"/machine/peripheral"},"id":"devices"}"#,
        r#"{"execute":"quit"}"#,
    ];
    // QEMU may already have exited on bad arguments: a broken pipe is reported via stderr below.
    let _ = stdin.write_all((requests.join("\n") + "\n").as_bytes());
    drop(stdin);
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
            .collect::<Vec<_>>()
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = qemu.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "QEMU did not quit: {args:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut errors = String::new();
    stderr.read_to_string(&mut errors).unwrap();
    let replies = reader.join().unwrap();
    assert!(
        status.success(),
        "QEMU ({machine}) refused {args:?}:\n{errors}"
    );
    let reply = |id: &str| {
        replies
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no reply to {id}: {replies:?}"))["return"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let nodes = reply("nodes")
        .iter()
        .filter_map(|n| n["node-name"].as_str().map(str::to_owned))
        .collect();
    let devices = reply("devices")
        .iter()
        .filter_map(|d| d["name"].as_str().map(str::to_owned))
        .collect();
    (nodes, devices)
}

fn assert_attached(machine: &str, nodefaults: bool, drives: &[DriveSpec]) {
    let args = drive_args(drives).unwrap();
    let (nodes, devices) = run_qemu(machine, nodefaults, &args);
    for drive in drives {
        if drive.kind.is_image() {
            assert!(
                nodes.contains(&drive.name),
                "{machine}: node {} missing in {nodes:?}",
                drive.name
            );
        }
        if drive.interface != Interface::None || drive.kind == DriveKind::Virtfs {
            assert!(
                devices.contains(&drive.name),
                "{machine}: device {} missing in {devices:?}",
                drive.name
            );
        }
    }
}

#[test]
fn every_kind_interface_and_media_starts_on_pc_and_q35() {
    let images = images();
    for machine in MACHINES {
        for interface in Interface::ALL {
            for (kind, media) in [
                (DriveKind::Qcow2, Media::Disk),
                (DriveKind::Raw, Media::Disk),
                (DriveKind::Raw, Media::Cdrom),
                (DriveKind::Qcow2, Media::Cdrom),
            ] {
                let drive = image_drive("d0", &images, kind, interface, media);
                assert_attached(machine, true, &[drive]);
            }
        }
    }
}

#[test]
fn virtfs_shares_start_on_pc_and_q35() {
    let images = images();
    let shares = [
        DriveSpec {
            kind: DriveKind::Virtfs,
            path: Some(images.share.clone()),
            mount_tag: Some("host,share".to_owned()),
            security_model: Some(SecurityModel::MappedXattr),
            readonly: true,
            ..DriveSpec::new("projects")
        },
        DriveSpec {
            kind: DriveKind::Virtfs,
            path: Some(images.share.clone()),
            security_model: Some(SecurityModel::None),
            ..DriveSpec::new("scratch")
        },
    ];
    for machine in MACHINES {
        assert_attached(machine, true, &shares);
    }
}

#[test]
fn a_full_house_of_drives_starts_with_and_without_defaults() {
    let images = images();
    let mut drives = Vec::new();
    for port in 0..6 {
        drives.push(image_drive(
            &format!("sata{port}"),
            &images,
            DriveKind::Raw,
            Interface::Sata,
            Media::Disk,
        ));
    }
    // A read-only disk would be refused on IDE/SATA, so the read-only one is virtio.
    let mut readonly = image_drive(
        "ro",
        &images,
        DriveKind::Qcow2,
        Interface::Virtio,
        Media::Disk,
    );
    readonly.readonly = true;
    readonly.cache = Some("writeback".to_owned());
    drives.extend([
        image_drive("ide0", &images, DriveKind::Raw, Interface::Ide, Media::Disk),
        image_drive(
            "ide1",
            &images,
            DriveKind::Raw,
            Interface::Ide,
            Media::Cdrom,
        ),
        image_drive(
            "vcd",
            &images,
            DriveKind::Raw,
            Interface::Virtio,
            Media::Cdrom,
        ),
        image_drive(
            "scsi0-disk",
            &images,
            DriveKind::Raw,
            Interface::Scsi,
            Media::Disk,
        ),
        image_drive(
            "scd",
            &images,
            DriveKind::Raw,
            Interface::Scsi,
            Media::Cdrom,
        ),
        image_drive(
            "loose",
            &images,
            DriveKind::Raw,
            Interface::None,
            Media::Disk,
        ),
        readonly,
    ]);
    for drive in &mut drives {
        // The same raw file is attached many times; only one writer may lock it.
        if drive.kind == DriveKind::Raw && drive.media == Media::Disk {
            let copy = images.raw.with_file_name(format!("{}.raw", drive.name));
            std::fs::copy(&images.raw, &copy).unwrap();
            drive.file = Some(copy);
        }
    }
    for machine in MACHINES {
        for nodefaults in [true, false] {
            assert_attached(machine, nodefaults, &drives);
        }
    }
}
