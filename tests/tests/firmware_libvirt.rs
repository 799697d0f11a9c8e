//! `firmware: uefi`, `secure_boot` and `tpm` after `maqet export --to libvirt`, on the
//! libvirtd 9.0 the tests run (issue R): the UEFI + TPM domain defines, starts and boots the
//! test guest with libvirt's own firmware choice and swtpm; the Secure Boot domain defines with
//! the Secure Boot firmware features libvirt keeps.
//!
//! Build everything first: `cargo build --workspace` (the export plugin).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use maqet_tests::cli::{describe, maqet};
use maqet_tests::guest_checks::{DomainCleanup, unique_name};
use maqet_tests::libvirtd::{libvirtd, virsh, virsh_ok, wait_for_domstate};
use maqet_tests::{MaqetHome, READY_BANNER, efi_guest_config_yaml, wait_for_file_text};

/// Guards for a TCG boot on a loaded 2-core machine (failure guards, not timings).
const BOOT_GUARD: Duration = Duration::from_secs(240);
const STATE_GUARD: Duration = Duration::from_secs(120);

fn home_with_export_plugin() -> MaqetHome {
    let exe = std::env::current_exe().expect("test executable path");
    let profile = exe.parent().and_then(|d| d.parent()).expect("profile dir");
    let home = MaqetHome::new();
    let dir = home.data_dir().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let built = profile.join("libmaqet_export.so");
    assert!(
        built.exists(),
        "libmaqet_export.so was not built in {}; run `cargo build --workspace`",
        profile.display()
    );
    std::fs::copy(&built, dir.join("libmaqet_export.so")).unwrap();
    home
}

fn run_ok(home: &MaqetHome, args: &[&str]) {
    let out = maqet(home, args);
    assert!(out.status.success(), "{}", describe(args, &out));
}

/// Removes a UEFI domain with its NVRAM and TPM state (plain `undefine` refuses NVRAM).
fn undefine(name: &str) {
    let _ = virsh(&["destroy", name]);
    let _ = virsh(&["undefine", name, "--nvram", "--tpm"]);
}

#[test]
fn uefi_tpm_and_secure_boot_exports_define_and_boot_on_libvirt() {
    let _daemon = libvirtd();
    let home = home_with_export_plugin();
    let name = unique_name("uefi-tpm");
    let sb = format!("{name}-sb");
    let _cleanup = DomainCleanup(vec![name.clone(), sb.clone()]);
    let config = home.write_config(
        &name,
        &efi_guest_config_yaml(&name, "firmware: uefi\ntpm: true\n"),
    );
    run_ok(&home, &["add", &config.to_string_lossy()]);
    let xml_file = home.path().join("uefi.xml");
    let serial = home.path().join("serial.log");
    run_ok(
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
    let xml = std::fs::read_to_string(&xml_file).unwrap();
    assert!(xml.contains(r#"<os firmware="efi">"#), "{xml}");
    assert!(xml.contains(r#"<tpm model="tpm-crb">"#), "{xml}");

    virsh_ok(&["define", &xml_file.to_string_lossy()]);
    let start = virsh(&["start", &name]);
    assert!(
        start.status.success(),
        "libvirt did not start the UEFI + TPM domain: {}",
        String::from_utf8_lossy(&start.stderr)
    );
    wait_for_domstate(&name, "running", STATE_GUARD).unwrap();
    wait_for_file_text(&serial, READY_BANNER, BOOT_GUARD)
        .unwrap_or_else(|e| panic!("the UEFI guest did not boot under libvirt: {e}"));
    let qemu_pid = std::fs::read_to_string(format!("/run/libvirt/qemu/{name}.pid")).unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", qemu_pid.trim())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(
        cmdline.contains("OVMF_CODE"),
        "libvirt's QEMU runs no OVMF: {cmdline}"
    );
    assert!(
        cmdline.contains("tpm-crb"),
        "libvirt's QEMU has no TPM: {cmdline}"
    );
    let live = virsh_ok(&["dumpxml", &name]);
    assert!(
        live.contains("<nvram"),
        "libvirt gave the domain no NVRAM:\n{live}"
    );
    assert!(live.contains("type='emulator'"), "{live}");
    undefine(&name);

    // Secure Boot: libvirt keeps the features and the secure loader.
    let config = home.write_config(
        &sb,
        &efi_guest_config_yaml(&sb, "firmware: uefi\nsecure_boot: true\n"),
    );
    run_ok(&home, &["add", &config.to_string_lossy()]);
    let sb_file = home.path().join("sb.xml");
    run_ok(
        &home,
        &[
            "export",
            &sb,
            "--to",
            "libvirt",
            "--output",
            &sb_file.to_string_lossy(),
        ],
    );
    virsh_ok(&["define", &sb_file.to_string_lossy()]);
    let defined = virsh_ok(&["dumpxml", &sb]);
    for part in [
        "firmware='efi'",
        "<feature enabled='yes' name='secure-boot'/>",
        "<feature enabled='yes' name='enrolled-keys'/>",
        "secure='yes'",
        "<smm state='on'/>",
    ] {
        assert!(defined.contains(part), "{part} missing:\n{defined}");
    }
    undefine(&sb);
}
