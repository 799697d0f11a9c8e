//! Exports that run where they land, on the libvirtd 9.0 the tests start (Debian 12's):
//! a VM with `ports` defines and starts, its forward listens on `host_addr` only, and the guest
//! finds its NIC (model, MAC, PCI slot) where it had it under maqet; `export --name` makes a
//! second domain; `deploy` to a host without a `default` pool creates it, and qcow2 overlays
//! are flattened on the way. The real Debian guest deployed to it is in `debian_must_show.rs`.
//!
//! Needs root (see `maqet_tests::libvirtd`). QEMU runs the test guest under TCG.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use maqet_tests::cli::{describe, maqet, maqet_stdout};
use maqet_tests::guest_checks::{
    DomainCleanup, assert_loopback_only, free_port, maqet_slow, unique_name,
};
use maqet_tests::libvirtd::{
    NoDefaultPool, agent_sh, libvirtd, virsh_ok, wait_for_agent, wait_for_domstate,
};
use maqet_tests::{MaqetHome, READY_BANNER, guest_config_yaml, qemu_img, wait_for_file_text};
use serde_json::Value;

/// Generous guards for a TCG boot on a loaded 2-core machine (failure guards, not timings).
const BOOT_GUARD: Duration = Duration::from_secs(240);
const STATE_GUARD: Duration = Duration::from_secs(120);
/// What the test guest's busybox httpd serves on port 8080.
const GUEST_PAGE: &str = "maqet test guest";
/// Prints the NIC the guest sees (its PCI device path and MAC) and every PCI device with its
/// slot and device id.
const NIC_SCRIPT: &str = "readlink -f /sys/class/net/eth0/device; cat /sys/class/net/eth0/address; \
     for d in /sys/bus/pci/devices/*; do echo ${d##*/} $(cat $d/device); done";

fn home_with_plugins() -> MaqetHome {
    let exe = std::env::current_exe().expect("test executable path");
    let profile = exe.parent().and_then(|d| d.parent()).expect("profile dir");
    let home = MaqetHome::new();
    let dir = home.data_dir().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for lib in ["libmaqet_export.so", "libmaqet_libvirt.so"] {
        let built = profile.join(lib);
        assert!(
            built.exists(),
            "{lib} was not built in {}; run `cargo build --workspace`",
            profile.display()
        );
        std::fs::copy(&built, dir.join(lib)).unwrap();
    }
    home
}

fn ok_json(home: &MaqetHome, args: &[&str]) -> (Value, String) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = maqet(home, &all);
    assert!(out.status.success(), "{}", describe(&all, &out));
    let json = serde_json::from_slice(&out.stdout).expect("JSON result");
    (json, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The page the guest's httpd serves through the forward on 127.0.0.1:`port`.
fn fetch_through(port: u16) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut page = String::new();
    stream
        .read_to_string(&mut page)
        .map_err(|e| e.to_string())?;
    Ok(page)
}

fn fetch_with_retries(port: u16) -> String {
    let mut last = String::new();
    for _ in 0..40 {
        match fetch_through(port) {
            Ok(page) if page.contains(GUEST_PAGE) => return page,
            Ok(page) => last = page,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("the guest's page did not come through 127.0.0.1:{port}: {last}");
}

#[test]
fn export_with_ports_runs_on_libvirt_9_0_with_the_nic_where_maqet_had_it() {
    let _daemon = libvirtd();
    let version = virsh_ok(&["version", "--daemon"]);
    let home = home_with_plugins();
    let name = unique_name("ports");
    let copy = format!("{name}-copy");
    let _cleanup = DomainCleanup(vec![name.clone(), copy.clone()]);
    let port = free_port();
    let share = home.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    // One device of each kind the export pins: AHCI, virtio-scsi, 9p, virtio-blk, the NIC,
    // the agent's virtio-serial, an RNG and a balloon (raw `args`, before the storage).
    let extra = format!(
        "guest_agent: true\nargs: [-device, virtio-rng-pci, -device, virtio-balloon-pci]\n\
         storage:\n  - {{name: sata0, type: qcow2, size: 64M, interface: sata}}\n  \
         - {{name: scsi0d, type: qcow2, size: 64M, interface: scsi}}\n  \
         - {{name: share, type: virtfs, path: {share}, mount_tag: share}}\n  \
         - {{name: root, type: qcow2, size: 64M}}\n\
         ports:\n  - {{host: {port}, guest: 8080, host_addr: 127.0.0.1}}\n",
        share = share.display()
    );
    let config = home.write_config(&name, &guest_config_yaml(&name, &extra));
    maqet_stdout(&home, &["add", &config.to_string_lossy()]);

    // Under maqet: the NIC's PCI path and MAC, the PCI devices, the page through the forward.
    maqet_stdout(&home, &["start", &name]);
    maqet_slow(&home, &["wait", &name, "--agent", "--timeout", "240"], 240);
    let under_maqet = maqet_stdout(&home, &["exec", &name, "--", "sh", "-c", NIC_SCRIPT]);
    assert!(
        under_maqet.contains("/0000:00:09.0/"),
        "maqet's NIC is expected in slot 9 (VGA 2, RNG 3, balloon 4, AHCI 5, SCSI 6, 9p 7, \
         disk 8): {under_maqet}"
    );
    fetch_with_retries(port);
    maqet_stdout(&home, &["stop", &name]);

    let xml_file = home.path().join("ports.xml");
    let serial = home.path().join("serial.log");
    let (result, stderr) = ok_json(
        &home,
        &[
            "export",
            &name,
            "--to",
            "libvirt",
            "--serial-log",
            &serial.to_string_lossy(),
            "--output",
            &xml_file.to_string_lossy(),
        ],
    );
    let network = result["network"].as_str().unwrap_or_default();
    assert!(network.contains("hostfwd"), "{result}");
    assert!(
        stderr.contains(network),
        "the choice is said on stderr: {stderr}"
    );
    let xml = std::fs::read_to_string(&xml_file).unwrap();
    assert!(
        !xml.contains(r#"<backend type="passt"/>"#),
        "libvirt 9.0 refuses passt:\n{xml}"
    );
    assert!(
        xml.contains(&format!("hostfwd=tcp:127.0.0.1:{port}-:8080")),
        "{xml}"
    );
    assert!(xml.contains("virtio-net-pci"), "{xml}");

    // The same export when the target is said to be 9.0.
    let (pinned, _) = ok_json(
        &home,
        &[
            "export",
            &name,
            "--to",
            "libvirt",
            "--libvirt-version",
            "9.0",
        ],
    );
    assert!(
        pinned.as_str().unwrap_or_default().contains("hostfwd="),
        "--libvirt-version 9.0 must not pick passt"
    );

    virsh_ok(&["define", &xml_file.to_string_lossy()]);
    virsh_ok(&["start", &name]);
    wait_for_domstate(&name, "running", STATE_GUARD).unwrap();
    wait_for_file_text(&serial, READY_BANNER, BOOT_GUARD)
        .unwrap_or_else(|e| panic!("the guest did not boot under libvirt ({version}): {e}"));
    assert_loopback_only(port);
    let page = fetch_with_retries(port);
    assert!(page.contains(GUEST_PAGE), "{page}");
    wait_for_agent(&name, BOOT_GUARD).unwrap();
    let under_libvirt = agent_sh(&name, NIC_SCRIPT);
    assert_eq!(
        under_libvirt.trim(),
        under_maqet.trim(),
        "the guest sees other PCI devices, or another NIC (PCI path, MAC), under libvirt"
    );
    let qemu_pid = std::fs::read_to_string(format!("/run/libvirt/qemu/{name}.pid")).unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", qemu_pid.trim())).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("virtio-net-pci"),
        "the NIC is virtio under libvirt too"
    );

    // `--name` makes another domain, with its own UUID, that defines next to the first.
    let (copy_xml, _) = ok_json(
        &home,
        &["export", &name, "--to", "libvirt", "--name", &copy],
    );
    let copy_file = home.path().join("copy.xml");
    std::fs::write(&copy_file, copy_xml.as_str().unwrap()).unwrap();
    virsh_ok(&["define", &copy_file.to_string_lossy()]);
    let copy_info = virsh_ok(&["dominfo", &copy]);
    assert!(copy_info.contains(&copy), "{copy_info}");
    assert_ne!(
        virsh_ok(&["domuuid", &copy]).trim(),
        virsh_ok(&["domuuid", &name]).trim()
    );
    virsh_ok(&["undefine", &copy]);

    virsh_ok(&["destroy", &name]);
    virsh_ok(&["undefine", &name]);
}

/// Whether `pattern` fills the first MiB of the qcow2 image `path` (read with qemu-io).
fn first_mib_is(path: &str, pattern: &str) -> bool {
    let out = Command::new("qemu-io")
        .args(["-f", "qcow2", "-r", "-U", "-c"])
        .arg(format!("read -P {pattern} 0 1M"))
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && !text.contains("Pattern verification failed")
}

#[test]
fn deploy_creates_the_missing_default_pool_and_flattens_overlays() {
    let _daemon = libvirtd();
    let _no_default = NoDefaultPool::new();
    let home = home_with_plugins();
    let name = unique_name("overlay");
    let _cleanup = DomainCleanup(vec![name.clone()]);
    let images = tempfile::tempdir().unwrap();
    let base = images.path().join("base.qcow2");
    let base_text = base.to_string_lossy().into_owned();
    qemu_img(&["create", "-q", "-f", "qcow2", &base_text, "64M"]);
    let out = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0xab 0 1M", &base_text])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `root`: an overlay file that exists; `data`: one maqet has not created yet.
    let overlay = images.path().join("root.qcow2");
    let overlay_text = overlay.to_string_lossy().into_owned();
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-b",
        &base_text,
        "-F",
        "qcow2",
        &overlay_text,
    ]);
    let port = free_port();
    let extra = format!(
        "storage:\n  - {{name: root, type: qcow2, file: {overlay_text}}}\n  \
         - {{name: data, type: qcow2, backing_file: {base_text}, size: 64M}}\n\
         ports:\n  - {{host: {port}, guest: 8080, host_addr: 127.0.0.1}}\n"
    );
    let config = home.write_config(&name, &guest_config_yaml(&name, &extra));
    maqet_stdout(&home, &["add", &config.to_string_lossy()]);

    let (result, stderr) = ok_json(
        &home,
        &["deploy", &name, "--connect", "qemu:///system", "--start"],
    );
    assert_eq!(result["pool"], "default", "{result}");
    assert_eq!(
        result["created_pool"], "/var/lib/libvirt/images",
        "{result}"
    );
    assert!(stderr.contains("no storage pool `default`"), "{stderr}");
    assert_eq!(result["flattened"], serde_json::json!(["root", "data"]));
    assert!(
        result["network"]
            .as_str()
            .unwrap_or_default()
            .contains("hostfwd"),
        "{result}"
    );
    let info = virsh_ok(&["pool-info", "default"]);
    assert!(info.contains("running"), "{info}");
    assert!(
        info.lines()
            .any(|l| l.starts_with("Autostart:") && l.contains("yes")),
        "{info}"
    );

    // Each volume is one self-contained image holding the base's data.
    let volumes: Vec<String> = result["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .filter(|v| v.ends_with(".qcow2"))
        .collect();
    assert_eq!(volumes.len(), 2, "{result}");
    for volume in &volumes {
        let path = virsh_ok(&["vol-path", volume, "--pool", "default"]);
        let path = path.trim();
        assert!(path.starts_with("/var/lib/libvirt/images/"), "{path}");
        let out = Command::new("qemu-img")
            .args(["info", "-U", "--output=json", path])
            .output()
            .unwrap();
        let info: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            info["backing-filename"].is_null(),
            "{volume} has a backing file: {info}"
        );
        assert!(
            first_mib_is(path, "0xab"),
            "{volume} lost the base image's data"
        );
    }

    wait_for_domstate(&name, "running", STATE_GUARD).unwrap();
    let serial = PathBuf::from(format!("/var/log/libvirt/qemu/{name}-serial.log"));
    wait_for_file_text(&serial, READY_BANNER, BOOT_GUARD)
        .unwrap_or_else(|e| panic!("the deployed guest did not boot: {e}"));
    assert_loopback_only(port);
    fetch_with_retries(port);

    let (removed, _) = ok_json(&home, &["undeploy", &name, "--connect", "qemu:///system"]);
    assert_eq!(removed["deleted_volumes"].as_array().map(Vec::len), Some(4));
    let _ = std::fs::remove_file(&serial);
}
