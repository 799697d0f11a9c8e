//! Real `qemu-img`/`qemu-io` runs in a temporary directory.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use maqet_storage::{
    ByteSize, DriveKind, DriveSpec, ErrorKind, ImageFormat, Media, QemuImg, StorageError,
    prepare_image,
};

const MIB16: ByteSize = ByteSize(16 << 20);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs one `qemu-io` command on an image and says whether it succeeded.
fn qemu_io(image: &Path, command: &str) -> bool {
    let out = Command::new("qemu-io")
        .args(["-c", command])
        .arg(image)
        .output()
        .expect("qemu-io (qemu-utils) must be installed");
    out.status.success()
}

/// Names in `dir` (to spot leftovers such as temporary files).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn new_qcow2(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    QemuImg::new()
        .create(&path, ImageFormat::Qcow2, Some(MIB16), None)
        .unwrap();
    path
}

#[test]
fn create_makes_a_private_image_with_the_requested_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vms/demo/hdd.qcow2");
    let created = QemuImg::new()
        .create(&path, ImageFormat::Qcow2, Some(MIB16), None)
        .unwrap();
    assert_eq!(created.path, path);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("vms")), 0o700);
    assert_eq!(mode(&dir.path().join("vms/demo")), 0o700);
    let info = QemuImg::new().info(&path, false).unwrap();
    assert_eq!(info.format, "qcow2");
    assert_eq!(info.virtual_size, 16 << 20);
    assert!(info.snapshots.is_empty());
    assert_eq!(entries(&dir.path().join("vms/demo")), ["hdd.qcow2"]);
}

#[test]
fn create_never_overwrites_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.qcow2");
    std::fs::write(&path, b"precious data").unwrap();
    let err = QemuImg::new()
        .create(&path, ImageFormat::Qcow2, Some(MIB16), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious data");
    assert_eq!(entries(dir.path()), ["precious.qcow2"]);
}

#[test]
fn failed_creates_leave_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a parent directory should be.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let err = QemuImg::new()
        .create(
            &blocker.join("disk.qcow2"),
            ImageFormat::Qcow2,
            Some(MIB16),
            None,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");

    // qemu-img itself fails: the backing file is raw but declared qcow2.
    let backing = dir.path().join("base.raw");
    QemuImg::new()
        .create(&backing, ImageFormat::Raw, Some(MIB16), None)
        .unwrap();
    let target = dir.path().join("overlay.qcow2");
    let err = QemuImg::new()
        .create(&target, ImageFormat::Qcow2, None, Some((&backing, "qcow2")))
        .unwrap_err();
    let StorageError::ToolFailed { source, .. } = &err else {
        panic!("expected a qemu-img failure, got {err:?}");
    };
    assert!(
        !source.0.trim().is_empty(),
        "qemu-img's stderr is kept as the source"
    );
    assert!(
        !err.to_string().contains(source.0.trim()),
        "the message must not repeat the source"
    );
    assert!(!target.exists());
    assert_eq!(entries(dir.path()), ["base.raw", "not-a-dir"]);
}

#[test]
fn system_directories_are_refused() {
    let err = QemuImg::new()
        .create(
            Path::new("/etc/maqet-test.qcow2"),
            ImageFormat::Qcow2,
            Some(MIB16),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(err, StorageError::UnsafeLocation { .. }),
        "{err:?}"
    );
    assert!(!Path::new("/etc/maqet-test.qcow2").exists());
}

#[test]
fn snapshot_cycle_rolls_data_back() {
    let dir = tempfile::tempdir().unwrap();
    let image = new_qcow2(dir.path(), "hdd.qcow2");
    let qemu_img = QemuImg::new();

    qemu_img.snapshot_create(&image, "clean", false).unwrap();
    let err = qemu_img
        .snapshot_create(&image, "clean", false)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    qemu_img.snapshot_create(&image, "clean", true).unwrap();
    let list = qemu_img.snapshot_list(&image, false).unwrap();
    assert_eq!(
        list.len(),
        1,
        "overwrite replaces, it does not add: {list:?}"
    );
    assert_eq!(list[0].name, "clean");
    assert_eq!(list[0].vm_clock, "00:00:00.000");
    assert!(
        list[0].date.ends_with('Z') && list[0].date.len() == 20,
        "{}",
        list[0].date
    );
    assert!(qemu_img.snapshot_exists(&image, "clean").unwrap());

    assert!(qemu_io(&image, "write -P 0xab 0 4k"));
    assert!(qemu_io(&image, "read -P 0xab 0 4k"));
    qemu_img.snapshot_apply(&image, "clean").unwrap();
    assert!(
        qemu_io(&image, "read -P 0 0 4k"),
        "data written after the snapshot must be gone"
    );

    let err = qemu_img.snapshot_apply(&image, "nosuch").unwrap_err();
    match err {
        StorageError::SnapshotNotFound { name, available } => {
            assert_eq!(name, "nosuch");
            assert_eq!(available, ["clean"]);
        }
        other => panic!("expected SnapshotNotFound, got {other:?}"),
    }
    qemu_img.snapshot_delete(&image, "clean").unwrap();
    assert!(qemu_img.snapshot_list(&image, false).unwrap().is_empty());
    let err = qemu_img.snapshot_delete(&image, "clean").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        "snapshot 'clean' not found; available snapshots: none"
    );
}

#[test]
fn bad_snapshot_names_and_raw_images_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let image = new_qcow2(dir.path(), "hdd.qcow2");
    let qemu_img = QemuImg::new();
    for name in ["42", "", "a\u{7}b"] {
        let err = qemu_img.snapshot_create(&image, name, false).unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidSnapshotName { .. }),
            "{name:?}: {err:?}"
        );
    }
    assert!(qemu_img.snapshot_list(&image, false).unwrap().is_empty());

    let raw = dir.path().join("data.raw");
    qemu_img
        .create(&raw, ImageFormat::Raw, Some(MIB16), None)
        .unwrap();
    let err = qemu_img.snapshot_create(&raw, "s1", false).unwrap_err();
    assert!(
        matches!(&err, StorageError::SnapshotUnsupported { format, .. } if format == "raw"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(qemu_img.snapshot_list(&raw, true).is_err());
}

/// Keeps an image open for writing (like a running VM) until dropped.
struct Holder(Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_image_in_use_is_listed_but_not_modified() {
    let dir = tempfile::tempdir().unwrap();
    let image = new_qcow2(dir.path(), "hdd.qcow2");
    let qemu_img = QemuImg::new();
    qemu_img.snapshot_create(&image, "before", false).unwrap();
    let mut holder = Holder(
        Command::new("qemu-io")
            .arg(&image)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Wait until qemu-io has opened (and locked) the image: its prompt answers a command.
    {
        use std::io::{BufRead, BufReader, Write};
        let stdin = holder.0.stdin.as_mut().unwrap();
        stdin.write_all(b"read 0 512\n").unwrap();
        let mut line = String::new();
        BufReader::new(holder.0.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
    }
    // Bug 13 of the original: a locked image must not look like one without snapshots.
    let names: Vec<String> = qemu_img
        .snapshot_list(&image, true)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["before"]);
    let err = qemu_img.snapshot_apply(&image, "before").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err:?}");
    drop(holder);
    qemu_img.snapshot_apply(&image, "before").unwrap();
}

#[test]
fn overlay_and_convert_make_linked_and_full_clones() {
    let dir = tempfile::tempdir().unwrap();
    let base = new_qcow2(dir.path(), "base.qcow2");
    assert!(qemu_io(&base, "write -P 0xcd 0 4k"));
    let qemu_img = QemuImg::new();

    let overlay = dir.path().join("clones/linked.qcow2");
    qemu_img.create_overlay(&base, &overlay).unwrap();
    let info = qemu_img.info(&overlay, false).unwrap();
    assert_eq!(info.backing_file.as_deref(), Some(base.as_path()));
    assert_eq!(info.backing_format.as_deref(), Some("qcow2"));
    assert_eq!(info.virtual_size, 16 << 20);
    assert!(qemu_io(&overlay, "read -P 0xcd 0 4k"));
    assert!(qemu_io(&overlay, "write -P 0xee 0 4k"));
    assert!(
        qemu_io(&base, "read -P 0xcd 0 4k"),
        "writing the overlay must not touch the base"
    );

    let full = dir.path().join("clones/full.qcow2");
    let mut reported = Vec::new();
    let mut record = |percent: f64| reported.push(percent);
    qemu_img
        .convert(&overlay, &full, ImageFormat::Qcow2, Some(&mut record))
        .unwrap();
    assert_eq!(reported.last().copied(), Some(100.0), "{reported:?}");
    assert_eq!(mode(&full), 0o600);
    let info = qemu_img.info(&full, false).unwrap();
    assert_eq!(info.backing_file, None);
    assert!(qemu_io(&full, "read -P 0xee 0 4k"));

    let err = qemu_img
        .convert(&overlay, &full, ImageFormat::Raw, None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(qemu_img.info(&full, false).unwrap().format, "qcow2");
}

#[test]
fn a_missing_qemu_img_names_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("x.qcow2");
    let err = QemuImg::new()
        .with_binary("/nonexistent/qemu-img")
        .create(&image, ImageFormat::Qcow2, Some(MIB16), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tool);
    assert!(err.to_string().contains("qemu-utils"), "{err}");
    assert!(entries(dir.path()).is_empty(), "no partial file");
}

#[test]
fn prepare_image_creates_reuses_or_explains() {
    let dir = tempfile::tempdir().unwrap();
    let qemu_img = QemuImg::new();
    let mut hdd = DriveSpec::new("hdd");
    hdd.file = Some(dir.path().join("hdd.qcow2"));
    let err = prepare_image(&qemu_img, &hdd).unwrap_err();
    assert!(matches!(err, StorageError::MissingSize { .. }), "{err:?}");

    hdd.size = Some(MIB16);
    assert!(prepare_image(&qemu_img, &hdd).unwrap().is_some());
    assert!(qemu_io(hdd.file.as_ref().unwrap(), "write -P 0x11 0 4k"));
    assert!(
        prepare_image(&qemu_img, &hdd).unwrap().is_none(),
        "an existing image is reused"
    );
    assert!(qemu_io(hdd.file.as_ref().unwrap(), "read -P 0x11 0 4k"));

    let base = dir.path().join("base.raw");
    qemu_img
        .create(&base, ImageFormat::Raw, Some(MIB16), None)
        .unwrap();
    let mut overlay = DriveSpec::new("overlay");
    overlay.file = Some(dir.path().join("overlay.qcow2"));
    overlay.backing_file = Some(base.clone());
    prepare_image(&qemu_img, &overlay).unwrap();
    let info = qemu_img
        .info(overlay.file.as_ref().unwrap(), false)
        .unwrap();
    assert_eq!(
        info.backing_format.as_deref(),
        Some("raw"),
        "the backing format is probed"
    );

    let mut cdrom = DriveSpec::new("cd");
    cdrom.kind = DriveKind::Raw;
    cdrom.media = Media::Cdrom;
    cdrom.readonly = true;
    cdrom.file = Some(dir.path().join("missing.iso"));
    assert_eq!(
        prepare_image(&qemu_img, &cdrom).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let mut share = DriveSpec::new("share");
    share.kind = DriveKind::Virtfs;
    share.path = Some(dir.path().join("shared/dir"));
    prepare_image(&qemu_img, &share).unwrap();
    assert!(dir.path().join("shared/dir").is_dir());
}
