use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::*;
use crate::{ImageFormat, QemuImg};

/// One crafted snapshot table entry.
struct Entry<'a> {
    id: &'a str,
    name: &'a str,
    date_sec: u32,
    vm_clock_nsec: u64,
    vm_state_size: u32,
    extra: Vec<u8>,
}

impl Entry<'_> {
    fn plain(id: &'static str, name: &'static str) -> Entry<'static> {
        Entry {
            id,
            name,
            date_sec: 1_714_564_800,
            vm_clock_nsec: 0,
            vm_state_size: 0,
            extra: Vec::new(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(0x3_0000u64.to_be_bytes()); // l1_table_offset
        out.extend(2u32.to_be_bytes()); // l1_size
        out.extend(u16::try_from(self.id.len()).unwrap().to_be_bytes());
        out.extend(u16::try_from(self.name.len()).unwrap().to_be_bytes());
        out.extend(self.date_sec.to_be_bytes());
        out.extend(123u32.to_be_bytes()); // date_nsec
        out.extend(self.vm_clock_nsec.to_be_bytes());
        out.extend(self.vm_state_size.to_be_bytes());
        out.extend(u32::try_from(self.extra.len()).unwrap().to_be_bytes());
        out.extend(&self.extra);
        out.extend(self.id.as_bytes());
        out.extend(self.name.as_bytes());
        out.resize(out.len().next_multiple_of(8), 0);
        out
    }
}

const TABLE_AT: u64 = 512;

/// A qcow2 header (cluster size 512) followed by a snapshot table at [`TABLE_AT`].
fn crafted(version: u32, entries: &[Entry<'_>]) -> Vec<u8> {
    let mut image = vec![0u8; TABLE_AT as usize];
    image[..4].copy_from_slice(&MAGIC);
    image[4..8].copy_from_slice(&version.to_be_bytes());
    image[20..24].copy_from_slice(&9u32.to_be_bytes()); // cluster_bits
    image[24..32].copy_from_slice(&(16u64 << 20).to_be_bytes());
    let count = u32::try_from(entries.len()).unwrap();
    image[60..64].copy_from_slice(&count.to_be_bytes());
    image[64..72].copy_from_slice(&TABLE_AT.to_be_bytes());
    if version == 3 {
        image[96..100].copy_from_slice(&4u32.to_be_bytes()); // refcount_order
        image[100..104].copy_from_slice(&104u32.to_be_bytes()); // header_length
    }
    for entry in entries {
        image.extend(entry.bytes());
    }
    image
}

fn read_bytes(bytes: &[u8]) -> Result<Option<Vec<SnapshotInfo>>, StorageError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image");
    std::fs::write(&path, bytes).unwrap();
    read_snapshots(&path)
}

#[test]
fn v3_entries_use_the_64_bit_vm_state_size_and_skip_padding() {
    let mut large = Entry::plain("1", "with-ram");
    large.vm_clock_nsec = 3_661_234_999_999;
    large.vm_state_size = 7; // the 32-bit field is superseded by the extra data
    large.extra = [(5u64 << 32) + 9, 16 << 20, u64::MAX]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let mut odd = Entry::plain("12", "ünïcode name");
    odd.date_sec = 951_782_400;
    odd.extra = vec![0; 4]; // too short to hold vm_state_size_large
    odd.vm_state_size = 4096;
    let list = read_bytes(&crafted(3, &[large, odd, Entry::plain("13", "last")]))
        .unwrap()
        .unwrap();
    assert_eq!(
        list,
        [
            SnapshotInfo {
                id: "1".into(),
                name: "with-ram".into(),
                vm_state_size: (5 << 32) + 9,
                date: "2024-05-01T12:00:00Z".into(),
                vm_clock: "01:01:01.234".into(),
            },
            SnapshotInfo {
                id: "12".into(),
                name: "ünïcode name".into(),
                vm_state_size: 4096,
                date: "2000-02-29T00:00:00Z".into(),
                vm_clock: "00:00:00.000".into(),
            },
            SnapshotInfo {
                id: "13".into(),
                name: "last".into(),
                vm_state_size: 0,
                date: "2024-05-01T12:00:00Z".into(),
                vm_clock: "00:00:00.000".into(),
            },
        ]
    );
}

#[test]
fn v2_images_and_empty_tables_are_read() {
    let mut entry = Entry::plain("1", "old");
    entry.vm_state_size = 77;
    let list = read_bytes(&crafted(2, &[entry])).unwrap().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].name.as_str(), list[0].vm_state_size), ("old", 77));
    assert_eq!(read_bytes(&crafted(3, &[])).unwrap(), Some(Vec::new()));
}

#[test]
fn other_files_are_not_qcow2() {
    let mut qcow1 = crafted(3, &[]);
    qcow1[4..8].copy_from_slice(&1u32.to_be_bytes());
    for bytes in [
        Vec::new(),
        vec![0u8; 4096],
        MAGIC.to_vec(),
        crafted(3, &[])[..103].to_vec(),
        qcow1,
    ] {
        assert_eq!(read_bytes(&bytes).unwrap(), None);
    }
}

#[test]
fn damaged_headers_and_tables_are_errors() {
    let patch = |at: usize, value: &[u8]| {
        let mut image = crafted(3, &[Entry::plain("1", "s")]);
        image[at..at + value.len()].copy_from_slice(value);
        image
    };
    let cases = [
        (
            "too many snapshots",
            patch(60, &(MAX_SNAPSHOTS + 1).to_be_bytes()),
        ),
        (
            "count beyond the file",
            patch(60, &MAX_SNAPSHOTS.to_be_bytes()),
        ),
        ("table past the end", patch(64, &(1u64 << 40).to_be_bytes())),
        (
            "offset overflow",
            patch(64, &(u64::MAX - 511).to_be_bytes()),
        ),
        ("unaligned table", patch(64, &100u64.to_be_bytes())),
        ("encrypted", patch(32, &1u32.to_be_bytes())),
        ("unknown feature", patch(72, &(1u64 << 40).to_be_bytes())),
        ("bad cluster bits", patch(20, &40u32.to_be_bytes())),
        ("short v3 header", patch(100, &72u32.to_be_bytes())),
        ("huge extra data", patch(512 + 36, &u32::MAX.to_be_bytes())),
        (
            "name past the end",
            patch(512 + 14, &u16::MAX.to_be_bytes()),
        ),
        ("name not UTF-8", patch(512 + 41, &[0xff])),
    ];
    for (what, bytes) in cases {
        let err = read_bytes(&bytes).expect_err(what);
        assert_eq!(err.kind(), crate::ErrorKind::Io, "{what}: {err}");
    }
}

#[test]
fn every_truncation_is_handled_without_panic() {
    let mut entry = Entry::plain("1", "cut");
    entry.extra = vec![0; 24];
    let image = crafted(3, &[entry, Entry::plain("2", "short")]);
    let full = read_bytes(&image).unwrap().unwrap();
    // QEMU does not write the last entry's padding (2 bytes here) when the file ends there.
    let complete = image.len() - 2;
    for len in 0..image.len() {
        // Never a panic nor a partial list: None before the header is complete, then errors.
        match read_bytes(&image[..len]) {
            Ok(Some(list)) => assert!(len >= complete && list == full, "cut at {len}"),
            Ok(None) => assert!(len < HEADER_LEN, "cut at {len}"),
            Err(_) => assert!((HEADER_LEN..complete).contains(&len), "cut at {len}"),
        }
    }
}

fn new_image(dir: &Path, name: &str, compat: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-o"])
        .arg(format!("compat={compat}"))
        .arg(&path)
        .arg("16M")
        .status()
        .expect("qemu-img (qemu-utils) must be installed");
    assert!(status.success());
    path
}

/// Saves a snapshot with RAM state through a real QEMU (`savevm` on the HMP monitor).
fn savevm(image: &Path, name: &str) {
    let mut qemu = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-S",
            "-nodefaults",
            "-display",
            "none",
            "-m",
            "16",
        ])
        .arg("-drive")
        .arg(format!(
            "file={},if=none,format=qcow2,id=d0",
            image.display()
        ))
        .args(["-monitor", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 must be installed");
    let mut stdin = qemu.stdin.take().unwrap();
    writeln!(stdin, "cont\nsavevm {name}\nquit").unwrap();
    drop(stdin);
    assert!(qemu.wait().unwrap().success());
}

#[test]
fn real_images_read_the_same_as_qemu_img_info() {
    let dir = tempfile::tempdir().unwrap();
    let qemu_img = QemuImg::new();
    for compat in ["0.10", "1.1"] {
        let image = new_image(dir.path(), &format!("{compat}.qcow2"), compat);
        assert_eq!(read_snapshots(&image).unwrap(), Some(Vec::new()));
        for name in ["first", "a longer name with spaces", "x"] {
            let status = Command::new("qemu-img")
                .args(["snapshot", "-c", name])
                .arg(&image)
                .status()
                .unwrap();
            assert!(status.success());
        }
        savevm(&image, "with-ram");
        let direct = read_snapshots(&image).unwrap().unwrap();
        assert_eq!(direct, qemu_img.info(&image, true).unwrap().snapshots);
        assert_eq!(direct.len(), 4, "{compat}: {direct:?}");
        assert!(direct[3].vm_state_size > 0, "{compat}: {direct:?}");
    }
}

#[test]
fn real_raw_images_are_not_qcow2() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    QemuImg::new()
        .create(&raw, ImageFormat::Raw, Some(crate::ByteSize(1 << 20)), None)
        .unwrap();
    assert_eq!(read_snapshots(&raw).unwrap(), None);
    let err = read_snapshots(&dir.path().join("missing.qcow2")).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Io);
}
