//! Plugins as a user meets them: copied into `<data>/plugins`, listed, run from the CLI.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use maqet_tests::cli::{plugin_library, stdout_json};
use maqet_tests::{MaqetHome, READY_BANNER, guest_config_yaml, wait_for_file_text};

fn install_plugins(home: &MaqetHome) -> PathBuf {
    let dir = home.data_dir().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for lib in [
        "maqet_cloud_init",
        "maqet_export",
        "maqet_incompatible_test",
    ] {
        std::fs::copy(plugin_library(lib), dir.join(format!("lib{lib}.so"))).unwrap();
    }
    std::fs::write(
        dir.join("libbroken.so"),
        b"\x7fELF this is not a plugin at all",
    )
    .unwrap();
    dir
}

#[test]
fn plugin_list_shows_loaded_and_rejected_files_and_the_cli_keeps_working() {
    let home = MaqetHome::new();
    install_plugins(&home);
    let out = home
        .cmd()
        .args(["plugin", "list", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = stdout_json(&out);
    let rows = rows.as_array().unwrap();
    let status_of = |file: &str| {
        rows.iter()
            .find(|r| r["file"].as_str().is_some_and(|f| f.ends_with(file)))
            .unwrap_or_else(|| panic!("{file} not listed in {rows:?}"))
            .clone()
    };
    assert_eq!(status_of("libmaqet_export.so")["status"], "loaded");
    assert_eq!(status_of("libmaqet_cloud_init.so")["status"], "loaded");
    let broken = status_of("libbroken.so");
    assert_eq!(broken["status"], "rejected");
    assert!(!broken["reason"].as_str().unwrap().is_empty());
    let incompatible = status_of("libmaqet_incompatible_test.so");
    assert_eq!(incompatible["status"], "rejected");
    assert!(
        incompatible["reason"].as_str().unwrap().contains("version"),
        "{incompatible}"
    );

    let help = home.cmd().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("cloud-init") && help.contains("export"),
        "{help}"
    );
    let sub_help = home.cmd().args(["export", "--help"]).output().unwrap();
    assert!(sub_help.status.success());
    assert!(String::from_utf8_lossy(&sub_help.stdout).contains("--to"));

    // Built-in commands still work; they load no plugin, so only a run that loads them (a
    // plugin command, `plugin list`) reports the rejected files as warnings.
    let ls = home.cmd().args(["ls"]).output().unwrap();
    assert!(ls.status.success());
    assert!(!String::from_utf8_lossy(&ls.stderr).contains("libbroken.so"));
    let list = home.cmd().args(["plugin", "list"]).output().unwrap();
    assert!(list.status.success());
    assert!(String::from_utf8_lossy(&list.stderr).contains("libbroken.so"));
}

#[test]
fn export_renders_libvirt_xml_with_memory_cpus_and_disks() {
    let home = MaqetHome::new();
    install_plugins(&home);
    let cfg = home.write_config(
        "web",
        "name: web\nmemory: 512M\ncpu: 2\naccel: tcg\nstorage:\n  - {name: hdd, type: qcow2, size: 1G}\n",
    );
    home.cmd().arg("add").arg(&cfg).assert().success();
    let help = home.cmd().args(["export", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    assert!(
        help.contains("[possible values: libvirt, nomad]"),
        "the plugin's choices reach --help: {help}"
    );
    let refused = home
        .cmd()
        .args(["export", "web", "--to", "docker"])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(3),
        "an unknown --to is invalid input"
    );
    let out = home
        .cmd()
        .args(["export", "web", "--to", "libvirt"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        xml.contains("<domain") && xml.contains("</domain>"),
        "{xml}"
    );
    assert!(xml.contains("524288"), "memory in KiB: {xml}");
    assert!(xml.contains("<vcpu") && xml.contains(">2</vcpu>"), "{xml}");
    assert!(xml.contains("hdd.qcow2"), "{xml}");
    let file = home.path().join("web.xml");
    std::fs::write(&file, &xml).unwrap();
    if Path::new("/usr/bin/xmllint").exists() {
        let lint = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg(&file)
            .status()
            .unwrap();
        assert!(lint.success(), "xmllint rejected {xml}");
    }
}

#[test]
fn cloud_init_seed_iso_is_seen_by_the_guest_on_a_virtio_disk() {
    let home = MaqetHome::new();
    install_plugins(&home);
    let cfg = home.write_config("ci", &guest_config_yaml("ci", ""));
    home.cmd().arg("add").arg(&cfg).assert().success();
    let user_data = home.write_config("user-data", "#cloud-config\nhostname: ci\n");
    let out = home
        .cmd()
        .arg("cloud-init")
        .arg("ci")
        .arg("--user-data")
        .arg(&user_data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let info = stdout_json(
        &home
            .cmd()
            .args(["info", "ci", "--format", "json"])
            .output()
            .unwrap(),
    );
    let drives = info["config_data"]["storage"]
        .as_array()
        .expect("storage list");
    let seed = drives
        .iter()
        .find(|d| d["name"] == "cidata")
        .expect("cidata drive");
    // Not SATA: cloud kernels have no AHCI driver (issue N).
    assert_eq!(seed["interface"], "virtio");
    assert_eq!(seed["readonly"], true);
    assert!(Path::new(seed["file"].as_str().unwrap()).exists());

    home.cmd().args(["start", "ci"]).assert().success();
    let serial = maqet_tests::cli::vm_data_dir(&home, "ci").join("serial.log");
    let seen = wait_for_file_text(&serial, "MAQET-GUEST CDROM[^\n]*", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("guest did not report the cdrom: {e}"));
    assert!(
        seen.contains("user-data") && seen.contains("meta-data"),
        "{seen}"
    );
    wait_for_file_text(&serial, READY_BANNER, Duration::from_secs(60)).unwrap();
    // A running VM reads its seed at boot: the plugin refuses it and writes nothing.
    let before = std::fs::read(seed["file"].as_str().unwrap()).unwrap();
    let refused = home
        .cmd()
        .args(["cloud-init", "ci", "--user-data"])
        .arg(&user_data)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is running"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(
        std::fs::read(seed["file"].as_str().unwrap()).unwrap(),
        before
    );
    home.cmd().args(["stop", "ci"]).assert().success();
}
