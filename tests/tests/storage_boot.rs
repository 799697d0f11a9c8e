//! Every drive kind and interface boots under QEMU 7.2 and the guest sees it.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use maqet_tests::{MaqetHome, READY_BANNER, guest_config_yaml, wait_for_file_text};

#[test]
fn every_interface_cdrom_and_virtfs_boot_and_the_guest_sees_them() {
    let home = MaqetHome::new();
    let share = home.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::write(share.join("hello.txt"), "hi").unwrap();
    // An ISO 9660 image made by qemu-img is not possible; a raw image read as cdrom media is
    // still a valid cdrom drive for QEMU and shows up as sr0 in the guest.
    let iso = home.path().join("disc.iso");
    std::fs::write(&iso, vec![0u8; 1024 * 1024]).unwrap();
    let extra = format!(
        "storage:\n\
         \x20 - {{name: vdisk, type: qcow2, size: 64M, interface: virtio}}\n\
         \x20 - {{name: sdisk, type: qcow2, size: 64M, interface: sata}}\n\
         \x20 - {{name: idisk, type: raw, size: 16M, interface: ide}}\n\
         \x20 - {{name: scdisk, type: qcow2, size: 64M, interface: scsi}}\n\
         \x20 - {{name: disc, type: raw, file: {iso}, media: cdrom, interface: sata}}\n\
         \x20 - {{name: share, type: virtfs, path: {share}, mount_tag: hostshare, readonly: true}}\n",
        iso = iso.display(),
        share = share.display()
    );
    let cfg = home.write_config("drives", &guest_config_yaml("drives", &extra));
    home.cmd().arg("add").arg(&cfg).assert().success();
    let start = home.cmd().args(["start", "drives"]).output().unwrap();
    assert!(
        start.status.success(),
        "{}",
        String::from_utf8_lossy(&start.stderr)
    );

    let serial = maqet_tests::cli::vm_data_dir(&home, "drives").join("serial.log");
    wait_for_file_text(&serial, READY_BANNER, Duration::from_secs(90)).unwrap();
    let log = std::fs::read_to_string(&serial).unwrap();
    let block = log
        .lines()
        .find(|l| l.starts_with("MAQET-GUEST BLOCK:"))
        .unwrap_or_else(|| panic!("no BLOCK line in {log}"));
    assert!(block.contains("vda"), "virtio disk missing: {block}");
    let sd_count = block
        .split_whitespace()
        .filter(|w| w.starts_with("sd"))
        .count();
    assert!(
        sd_count >= 3,
        "sata, ide and scsi disks expected as sd*: {block}"
    );
    assert!(block.contains("sr0"), "cdrom missing: {block}");
    assert!(
        log.contains("MAQET-GUEST 9P: hostshare") || log.contains("MAQET-GUEST 9P:  hostshare"),
        "{log}"
    );
    assert!(
        log.contains("hello.txt"),
        "virtfs share content not seen: {log}"
    );

    // The images maqet created have the configured virtual size.
    let info = home
        .cmd()
        .args(["storage-info", "drives", "--format", "json"])
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let vdisk = info["drives"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "vdisk"))
        .unwrap_or_else(|| panic!("no vdisk in {info}"));
    assert_eq!(vdisk["virtual_size"], 64 * 1024 * 1024, "{vdisk}");
    assert!(
        vdisk["resolved_path"]
            .as_str()
            .unwrap()
            .starts_with(home.data_dir().to_str().unwrap()),
        "{vdisk}"
    );
    home.cmd().args(["stop", "drives"]).assert().success();
}

/// Boots the guest with a raw disk, writes a marker to it from inside the guest, stops, and
/// says whether the marker reached the image file.
fn guest_write_reaches_disk(ephemeral: bool) -> bool {
    use std::io::Write;
    let home = MaqetHome::new();
    let extra = "storage:\n  - {name: data, type: raw, size: 4M}\n";
    let cfg = home.write_config("eph", &guest_config_yaml("eph", extra));
    home.cmd().arg("add").arg(&cfg).assert().success();
    let mut start = vec!["start", "eph"];
    if ephemeral {
        start.push("--ephemeral");
    }
    home.cmd().args(&start).assert().success();
    let serial = maqet_tests::cli::vm_data_dir(&home, "eph").join("serial.log");
    wait_for_file_text(&serial, READY_BANNER, Duration::from_secs(90)).unwrap();
    let status: serde_json::Value = serde_json::from_slice(
        &home
            .cmd()
            .args(["status", "eph", "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let console = std::path::Path::new(status["socket_path"].as_str().unwrap())
        .with_file_name("console.sock");
    let mut shell = std::os::unix::net::UnixStream::connect(&console).unwrap();
    shell
        .write_all(b"echo maqet-wrote-this > /dev/vda; sync; echo write-$((1+1))-done\n")
        .unwrap();
    wait_for_file_text(&serial, "write-2-done", Duration::from_secs(30)).unwrap();
    drop(shell);
    home.cmd().args(["stop", "eph"]).assert().success();
    let image =
        std::fs::read(maqet_tests::cli::vm_data_dir(&home, "eph").join("data.raw")).unwrap();
    image.windows(15).any(|w| w == b"maqet-wrote-thi")
}

#[test]
fn an_ephemeral_start_keeps_guest_writes_off_the_disk() {
    assert!(
        guest_write_reaches_disk(false),
        "a normal start must keep what the guest writes"
    );
    assert!(
        !guest_write_reaches_disk(true),
        "--ephemeral must throw the guest's writes away"
    );
}
