//! Issue R's promise on a real distribution: the Debian 12 guest built with an EFI system
//! partition (`build-debian.sh --efi`: Debian's signed shim, GRUB and cloud kernel) boots under
//! `firmware: uefi`, `secure_boot: true` and `tpm: true`, with nothing in `arguments`:
//!
//! 1. under maqet the guest is a UEFI guest with Secure Boot enabled (`mokutil --sb-state`) and
//!    a TPM 2.0 that answers (`tpm2_getrandom`), and a boot entry it writes with `efibootmgr`
//!    lands in the VM's own NVRAM, where it stays after the VM stops;
//! 2. `maqet export --output FILE` writes the NVRAM as the raw file libvirt 9 wants beside FILE
//!    and names it in `<nvram>`, which the test libvirtd accepts;
//! 3. `maqet deploy` carries the NVRAM too: the domain boots on the test libvirtd with Secure
//!    Boot enabled, a TPM, and the boot entry written under maqet.
//!
//! Two Debian boots (OVMF under TCG is slow; the restart of the NVRAM is the one under
//! libvirt). Needs root (libvirtd) and the binaries: `cargo build --workspace`.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use maqet_tests::cli::{describe, maqet_long, maqet_long_json};
use maqet_tests::guest_checks::{DomainCleanup, unique_name};
use maqet_tests::libvirtd::{
    TestPool, agent_sh, libvirtd, virsh, virsh_ok, wait_for_agent, wait_for_domstate,
};
use maqet_tests::{MaqetHome, debian_efi_guest};
use serde_json::Value;

/// Seconds one Debian boot through OVMF may take under TCG on a loaded 2-core machine: a
/// guard, not a timing.
const BOOT_SECS: u64 = 900;
/// The label of the boot entry the guest writes; found in the NVRAM as UTF-16.
const ENTRY: &str = "maqet-kept";

/// `sh -c SCRIPT` in the guest through `maqet exec`: stdout, trimmed.
fn guest_sh(home: &MaqetHome, vm: &str, script: &str) -> String {
    let out = maqet_long(home, &["exec", vm, "--", "sh", "-c", script], 120);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The tail of a serial log, for a failure message.
fn log_tail(path: &Path) -> String {
    let log = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&log[log.len().saturating_sub(3000)..]).into_owned()
}

/// Whether the raw UEFI variable store `bytes` holds `name` as UTF-16LE (how the firmware
/// stores boot entry descriptions).
fn holds_utf16(bytes: &[u8], name: &str) -> bool {
    let needle: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// What a guest's checks show, under maqet or libvirt.
fn assert_secure_boot_and_tpm(where_: &str, efi: &str, sb_state: &str, tpm: &str) {
    assert_eq!(efi, "efi", "{where_}: /sys/firmware/efi is missing");
    assert!(
        sb_state.contains("SecureBoot enabled"),
        "{where_}: mokutil --sb-state says {sb_state:?}"
    );
    let random = tpm
        .strip_prefix("tpm0 ")
        .unwrap_or_else(|| panic!("{where_}: no /dev/tpm0 or tpm2_getrandom failed: {tpm:?}"));
    assert!(
        random.len() == 16 && random.chars().all(|c| c.is_ascii_hexdigit()),
        "{where_}: tpm2_getrandom --hex 8 printed {random:?}"
    );
}

const EFI_CHECK: &str = "test -d /sys/firmware/efi && echo efi";
const SB_CHECK: &str = "mokutil --sb-state 2>&1";
const TPM_CHECK: &str = "test -c /dev/tpm0 && printf 'tpm0 ' && tpm2_getrandom --hex 8 2>&1";

#[test]
fn debian_boots_with_secure_boot_and_a_tpm_under_maqet_and_deployed_with_its_nvram() {
    let began = Instant::now();
    let image = debian_efi_guest();
    let home = MaqetHome::new();
    let quote = |text: &str| Value::from(text).to_string();
    let yaml = format!(
        "name: sb\nbinary: qemu-system-x86_64\nmemory: 1G\ncpu: 2\naccel: tcg\ndisplay: none\n\
         firmware: uefi\nsecure_boot: true\ntpm: true\nguest_agent: true\n\
         storage:\n  - {{name: hdd, type: qcow2, size: 4G, backing_file: {}, backing_format: qcow2}}\n",
        quote(&image.to_string_lossy())
    );
    assert!(!yaml.contains("arguments"), "{yaml}");
    let config = home.path().join("sb.yaml");
    std::fs::write(&config, yaml).unwrap();
    maqet_long(&home, &["add", &config.to_string_lossy()], 60);

    // 1. Under maqet: UEFI, Secure Boot, TPM; a boot entry written by the guest.
    maqet_long(&home, &["start", "sb"], 600);
    let info = maqet_long_json(&home, &["info", "sb"], 30);
    let data_dir = PathBuf::from(info["data_dir"].as_str().unwrap());
    let serial = data_dir.join("serial.log");
    let boot = Instant::now();
    let wait = home
        .cmd()
        .args(["wait", "sb", "--agent", "--timeout", &BOOT_SECS.to_string()])
        .timeout(Duration::from_secs(BOOT_SECS + 60))
        .output()
        .unwrap();
    assert!(
        wait.status.success(),
        "{}\n--- serial log tail\n{}",
        describe(&["wait", "sb", "--agent"], &wait),
        log_tail(&serial)
    );
    eprintln!(
        "firmware_debian: Debian under OVMF + Secure Boot reached its agent in {:.0} s",
        boot.elapsed().as_secs_f64()
    );
    assert_secure_boot_and_tpm(
        "under maqet",
        &guest_sh(&home, "sb", EFI_CHECK),
        &guest_sh(&home, "sb", SB_CHECK),
        &guest_sh(&home, "sb", TPM_CHECK),
    );
    let entries = guest_sh(
        &home,
        "sb",
        &format!(
            "efibootmgr --create --disk /dev/vda --part 1 --label {ENTRY} \
             --loader '\\EFI\\BOOT\\BOOTX64.EFI' >/dev/null 2>&1; efibootmgr 2>&1"
        ),
    );
    assert!(
        entries.contains(ENTRY),
        "efibootmgr wrote no entry:\n{entries}"
    );
    let stopped = maqet_long_json(&home, &["stop", "sb", "--timeout", "300"], 300);
    assert_eq!(stopped["forced"], false, "{stopped}");
    let nvram = PathBuf::from(info["firmware"]["nvram"].as_str().unwrap());
    assert!(
        holds_utf16(&maqet_tests::nvram_raw_bytes(&nvram, home.path()), ENTRY),
        "the guest's boot entry is not in maqet's NVRAM {}",
        nvram.display()
    );

    // 2. export --output: the raw NVRAM beside the XML, named by <nvram>; libvirt defines it.
    let _daemon = libvirtd();
    let exported_name = unique_name("sb-export");
    let domain = unique_name("sb-deploy");
    let _cleanup = DomainCleanup(vec![exported_name.clone(), domain.clone()]);
    let xml_file = home.path().join("export").join("sb.xml");
    std::fs::create_dir_all(xml_file.parent().unwrap()).unwrap();
    let exported = maqet_long_json(
        &home,
        &[
            "export",
            "sb",
            "--to",
            "libvirt",
            "--name",
            &exported_name,
            "--output",
            &xml_file.to_string_lossy(),
        ],
        120,
    );
    let raw_vars = xml_file.with_file_name("sb_VARS.fd");
    assert_eq!(
        exported["nvram"],
        raw_vars.to_string_lossy().as_ref(),
        "{exported}"
    );
    let xml = std::fs::read_to_string(&xml_file).unwrap();
    let template = info["firmware"]["vars_template"].as_str().unwrap();
    let element = format!("<nvram>{}</nvram>", raw_vars.display());
    assert!(xml.contains(&element), "{element} missing:\n{xml}");
    let raw = std::fs::read(&raw_vars).unwrap();
    assert!(
        holds_utf16(&raw, ENTRY),
        "the exported NVRAM lost the boot entry"
    );
    assert_eq!(
        raw.len() as u64,
        std::fs::metadata(template).unwrap().len(),
        "the raw NVRAM is not the size of the firmware's template"
    );
    virsh_ok(&["define", &xml_file.to_string_lossy()]);
    let defined = virsh_ok(&["dumpxml", &exported_name, "--inactive"]);
    assert!(
        defined.contains(&format!(">{}</nvram>", raw_vars.display())),
        "libvirt did not keep the exported NVRAM:\n{defined}"
    );
    let _ = virsh(&["undefine", &exported_name, "--keep-nvram"]);

    // 3. deploy --start: the domain boots with Secure Boot, the TPM and the boot entry.
    let pool = TestPool::new(&unique_name("pool-sb"));
    let deploy_began = Instant::now();
    let deployed = maqet_long_json(
        &home,
        &[
            "deploy",
            "sb",
            "--name",
            &domain,
            "--connect",
            "qemu:///system",
            "--pool",
            &pool.name,
            "--start",
        ],
        600,
    );
    let live = virsh_ok(&["dumpxml", &domain]);
    assert!(
        live.contains(&format!("{}/{domain}-nvram-", pool.dir.display())),
        "the deployed domain does not boot with the uploaded NVRAM:\n{live}\n{deployed}"
    );
    wait_for_domstate(&domain, "running", Duration::from_secs(120)).unwrap();
    let libvirt_serial = PathBuf::from(format!("/var/log/libvirt/qemu/{domain}-serial.log"));
    if let Err(e) = wait_for_agent(&domain, Duration::from_secs(BOOT_SECS)) {
        panic!(
            "the deployed Debian guest did not reach its agent: {e}\n--- serial log tail\n{}",
            log_tail(&libvirt_serial)
        );
    }
    eprintln!(
        "firmware_debian: deployed, the guest reached its agent under libvirt {:.0} s after deploy began",
        deploy_began.elapsed().as_secs_f64()
    );
    assert_secure_boot_and_tpm(
        "under libvirt",
        agent_sh(&domain, EFI_CHECK).trim(),
        agent_sh(&domain, SB_CHECK).trim(),
        agent_sh(&domain, TPM_CHECK).trim(),
    );
    let entries = agent_sh(&domain, "efibootmgr 2>&1");
    assert!(
        entries.contains(ENTRY),
        "the boot entry written under maqet is gone under libvirt:\n{entries}"
    );
    maqet_long_json(
        &home,
        &["undeploy", &domain, "--connect", "qemu:///system"],
        300,
    );
    let _ = std::fs::remove_file(&libvirt_serial);
    eprintln!(
        "firmware_debian: whole test {:.0} s",
        began.elapsed().as_secs_f64()
    );
}
