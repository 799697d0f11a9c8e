//! Backing chains and data files of real images made by qemu-img.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

/// Runs qemu-img with `args`; panics with its stderr when it fails.
fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img (qemu-utils) must be installed");
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A directory the client may use and one it may not (standing for /srv or another home).
struct Dirs {
    mine: tempfile::TempDir,
    outside: tempfile::TempDir,
    allowed: AllowedDirs,
}

fn dirs() -> Dirs {
    let mine = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let allowed = AllowedDirs::new([mine.path().to_path_buf()]);
    Dirs {
        mine,
        outside,
        allowed,
    }
}

/// A 0600 raw file with a secret in it.
fn secret(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("secret.raw");
    std::fs::write(&path, b"root password: hunter2\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn check(d: &Dirs, path: &Path, format: Option<&str>) -> Result<(), String> {
    check_image(&d.allowed, "filename", text(path), format, PathUse::Read)
}

#[test]
fn a_backing_file_outside_the_users_directories_is_refused_by_name() {
    let d = dirs();
    let secret = secret(d.outside.path());
    let evil = d.mine.path().join("evil.qcow2");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        text(&secret),
        text(&evil),
    ]);
    let err = check(&d, &evil, None).unwrap_err();
    assert!(err.contains("backing file"), "{err}");
    assert!(err.contains(text(&secret)), "{err}");
    assert!(err.contains("outside the directories"), "{err}");
    // The same with the format given, and two images deep.
    assert!(check(&d, &evil, Some("qcow2")).is_err());
    let top = d.mine.path().join("top.qcow2");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        "evil.qcow2",
        text(&top),
    ]);
    let err = check(&d, &top, None).unwrap_err();
    assert!(
        err.contains("evil.qcow2") && err.contains(text(&secret)),
        "{err}"
    );
    // As raw, the image names nothing, so it is the client's own file that QEMU reads.
    assert!(check(&d, &evil, Some("raw")).is_ok());
}

#[test]
fn a_data_file_outside_is_refused() {
    let d = dirs();
    let target = d.outside.path().join("data.raw");
    let image = d.mine.path().join("d.qcow2");
    let option = format!("data_file={}", text(&target));
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        &option,
        text(&image),
        "1M",
    ]);
    let err = check(&d, &image, None).unwrap_err();
    assert!(err.contains("data file"), "{err}");
    assert!(err.contains(text(&target)), "{err}");
    // Amended to point inside: accepted.
    let inside = d.mine.path().join("data.raw");
    std::fs::copy(&target, &inside).unwrap();
    let option = format!("data_file={}", text(&inside));
    qemu_img(&["amend", "-q", "-f", "qcow2", "-o", &option, text(&image)]);
    check(&d, &image, None).unwrap();
}

#[test]
fn an_image_with_its_backing_file_in_the_users_directory_is_accepted() {
    let d = dirs();
    let base = d.mine.path().join("base.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", text(&base), "1M"]);
    let sub = d.mine.path().join("vms");
    std::fs::create_dir(&sub).unwrap();
    let top = sub.join("top.qcow2");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        "../base.qcow2",
        text(&top),
    ]);
    check(&d, &top, None).unwrap();
    check(&d, &top, Some("qcow2")).unwrap();
}

#[test]
fn protocol_json_and_looping_backing_files_are_refused() {
    let d = dirs();
    let json = d.mine.path().join("json.qcow2");
    let name = r#"json:{"driver": "file", "filename": "/etc/shadow"}"#;
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-u",
        "-F",
        "raw",
        "-b",
        name,
        text(&json),
        "1M",
    ]);
    let err = check(&d, &json, None).unwrap_err();
    assert!(err.contains("'json:'"), "{err}");
    let nbd = d.mine.path().join("nbd.qcow2");
    let name = "nbd://127.0.0.1:10809/x";
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-u",
        "-F",
        "raw",
        "-b",
        name,
        text(&nbd),
        "1M",
    ]);
    let err = check(&d, &nbd, None).unwrap_err();
    assert!(err.contains("'nbd:'"), "{err}");

    let a = d.mine.path().join("a.qcow2");
    let b = d.mine.path().join("b.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", text(&a), "1M"]);
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        text(&a),
        text(&b),
    ]);
    qemu_img(&[
        "rebase",
        "-q",
        "-u",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        text(&b),
        text(&a),
    ]);
    let err = check(&d, &b, None).unwrap_err();
    assert!(err.contains("loops back"), "{err}");
}

#[test]
fn vmdk_pipes_missing_files_and_unreadable_images_are_refused_without_waiting() {
    let d = dirs();
    let fifo = d.mine.path().join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let vmdk = d.mine.path().join("v.vmdk");
    let descriptor = format!(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
         createType=\"monolithicFlat\"\nRW 2048 FLAT \"{}\" 0\n",
        text(&fifo)
    );
    std::fs::write(&vmdk, descriptor).unwrap();
    let started = Instant::now();
    let err = check(&d, &vmdk, None).unwrap_err();
    assert!(err.contains("VMDK"), "{err}");
    let err = check(&d, &fifo, None).unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let err = check(&d, &d.mine.path().join("none.qcow2"), None).unwrap_err();
    assert!(err.contains("none.qcow2"), "{err}");
    // A qcow2 header qemu-img cannot read is a refusal, not a pass.
    let broken = d.mine.path().join("broken.qcow2");
    std::fs::write(&broken, b"QFI\xfb\0\0\0\x09garbage").unwrap();
    let err = check(&d, &broken, None).unwrap_err();
    assert!(err.contains("could not read"), "{err}");
    let err = check(&d, &broken, Some("vmdk")).unwrap_err();
    assert!(err.contains("'vmdk'"), "{err}");
}

#[test]
fn the_header_sniffer_knows_vmdk_descriptors() {
    assert_eq!(sniff(b"QFI\xfb\0\0\0\x03"), Sniffed::Format("qcow2"));
    assert_eq!(sniff(b"KDMV...."), Sniffed::Vmdk);
    assert_eq!(sniff(b"\n# x\n  \nversion=1\n"), Sniffed::Vmdk);
    let mut long = b"# a long comment\n".repeat(300);
    long.truncate(4096);
    assert_eq!(sniff(&long), Sniffed::Vmdk);
    assert_eq!(sniff(b"\xeb\x63\x90 boot sector"), Sniffed::Other);
    assert_eq!(sniff(b""), Sniffed::Other);
}

#[test]
fn an_image_in_a_directory_anyone_may_write_is_refused() {
    let d = dirs();
    let open = d.mine.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let image = open.join("i.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", text(&image), "1M"]);
    let err = check(&d, &image, None).unwrap_err();
    assert!(err.contains("every user may write"), "{err}");
    // Sticky, like /tmp: others cannot replace the user's entries.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    check(&d, &image, None).unwrap();
}
