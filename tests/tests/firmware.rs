//! `firmware: uefi` on real firmware (Debian's `ovmf`, found through QEMU's firmware
//! descriptors) and QEMU under TCG (issue R): the guest boots UEFI and sees
//! `/sys/firmware/efi`, its NVRAM is a qcow2 in the VM's data directory that `info` shows,
//! that survives a restart with the variables the firmware wrote, that a live snapshot saves
//! and loads with the guest's state, that `clone` copies and `rm --clean-storage` deletes;
//! and a firmware request nothing fits fails naming what was found.
//!
//! Build the binaries first: `cargo build -p maqet-cli -p maqet-runner`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use maqet_tests::cli::{add, fails_with, maqet_json, maqet_ok, stdout_json};
use maqet_tests::guest_checks::maqet_slow;
use maqet_tests::{MaqetHome, efi_guest_config_yaml, guest_config_yaml};

/// Seconds `wait --agent` may take: OVMF and the guest boot under TCG on a busy machine.
const BOOT_WAIT: u64 = 240;

fn wait_agent(home: &MaqetHome, vm: &str) {
    let secs = BOOT_WAIT.to_string();
    maqet_slow(
        home,
        &["wait", vm, "--agent", "--timeout", &secs],
        BOOT_WAIT,
    );
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The descriptors Debian's `ovmf` installs; without them this test cannot say anything.
fn require_ovmf() {
    let dir = Path::new("/usr/share/qemu/firmware");
    let found = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().count())
        .unwrap_or(0);
    assert!(
        found > 0,
        "no firmware descriptors in {}: install the `ovmf` package (scripts/setup.sh does)",
        dir.display()
    );
}

/// Whether `haystack` holds `name` as UTF-16LE (how UEFI variable names are stored).
fn holds_variable_name(haystack: &[u8], name: &str) -> bool {
    let needle: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn exec(home: &MaqetHome, vm: &str, command: &str) -> String {
    stdout(&maqet_ok(home, &["exec", vm, "--", "sh", "-c", command]))
}

#[test]
fn a_uefi_guest_boots_keeps_its_nvram_and_round_trips_a_live_snapshot() {
    require_ovmf();
    let home = MaqetHome::new();
    let extra = "firmware: uefi\nguest_agent: true\nstorage:\n  - name: hdd\n    type: qcow2\n    size: 16M\n";
    add(&home, "efi", &efi_guest_config_yaml("efi", extra));

    // Before the first start, `info` says which firmware and where the NVRAM will be.
    let info = maqet_json(&home, &["info", "efi"]);
    let firmware = &info["firmware"];
    let nvram = PathBuf::from(firmware["nvram"].as_str().expect("an NVRAM path"));
    assert_eq!(firmware["nvram_exists"], false, "{info}");
    assert_eq!(firmware["secure_boot"], false, "{info}");
    let data_dir = PathBuf::from(info["data_dir"].as_str().unwrap());
    assert!(nvram.starts_with(&data_dir), "{info}");
    let argv = info["qemu_argv"].to_string();
    assert!(argv.contains("pflash1=maqet-fw-vars"), "{argv}");
    assert!(
        argv.contains("\"q35,"),
        "a UEFI VM without `machine` gets q35: {argv}"
    );

    let started = maqet_json(&home, &["start", "efi"]);
    assert!(
        started["created_files"]
            .to_string()
            .contains("uefi-vars.qcow2"),
        "{started}"
    );
    wait_agent(&home, "efi");
    let efi = exec(&home, "efi", "ls /sys/firmware/efi && echo BOOTED-UEFI");
    assert!(efi.contains("BOOTED-UEFI"), "the guest sees no EFI: {efi}");
    let info = maqet_json(&home, &["info", "efi"]);
    assert_eq!(info["firmware"]["nvram_exists"], true, "{info}");

    // A live snapshot of the UEFI guest holds RAM, the disk and the variables.
    exec(&home, "efi", "echo before-snapshot > /tmp/marker");
    let made = stdout_json(&maqet_slow(
        &home,
        &[
            "snapshot", "efi", "create", "hdd", "s1", "--live", "--format", "json",
        ],
        300,
    ));
    assert_eq!(made["live"], true, "{made}");
    let listed = std::process::Command::new("qemu-img")
        .args(["snapshot", "-U", "-l"])
        .arg(&nvram)
        .output()
        .expect("qemu-img runs");
    assert!(
        stdout(&listed).contains("s1"),
        "the NVRAM has no snapshot s1: {listed:?}"
    );
    exec(&home, "efi", "rm /tmp/marker");
    maqet_slow(
        &home,
        &["snapshot", "efi", "load", "hdd", "s1", "--live"],
        300,
    );
    let back = exec(&home, "efi", "cat /tmp/marker");
    assert_eq!(
        back.trim(),
        "before-snapshot",
        "the loaded state lacks the file"
    );

    // The firmware wrote its boot variables into the VM's NVRAM; a restart keeps the file.
    maqet_ok(&home, &["stop", "efi", "--force"]);
    let scratch = tempfile::tempdir().unwrap();
    assert!(
        holds_variable_name(
            &maqet_tests::nvram_raw_bytes(&nvram, scratch.path()),
            "BootOrder"
        ),
        "the firmware wrote no BootOrder into {}",
        nvram.display()
    );
    let inode = std::fs::metadata(&nvram).unwrap().ino();
    let again = maqet_json(&home, &["start", "efi"]);
    assert_eq!(
        again["created_files"].as_array().map(Vec::len),
        Some(0),
        "nothing is made at the second start: {again}"
    );
    wait_agent(&home, "efi");
    maqet_ok(&home, &["stop", "efi", "--force"]);
    assert_eq!(std::fs::metadata(&nvram).unwrap().ino(), inode);
    assert!(holds_variable_name(
        &maqet_tests::nvram_raw_bytes(&nvram, scratch.path()),
        "BootOrder"
    ));

    // `clone` copies the NVRAM; `rm --clean-storage` deletes it.
    maqet_ok(&home, &["clone", "efi", "efi-copy"]);
    let copy_info = maqet_json(&home, &["info", "efi-copy"]);
    let copy = PathBuf::from(copy_info["firmware"]["nvram"].as_str().unwrap());
    assert_ne!(copy, nvram);
    assert!(
        holds_variable_name(
            &maqet_tests::nvram_raw_bytes(&copy, scratch.path()),
            "BootOrder"
        ),
        "the clone's NVRAM is not a copy"
    );
    let removed = maqet_json(&home, &["rm", "efi", "--force", "--clean-storage"]);
    assert!(!nvram.exists(), "{removed}");
    assert!(copy.exists(), "removing the source left the clone's NVRAM");
}

#[test]
fn firmware_nothing_fits_names_what_was_found_and_bad_combinations_are_refused() {
    require_ovmf();
    let home = MaqetHome::new();
    // Debian's Secure Boot firmware needs SMM, which only q35 has.
    add(
        &home,
        "pc",
        &guest_config_yaml("pc", "firmware: uefi\nsecure_boot: true\nmachine: pc\n"),
    );
    let err = fails_with(&home, &["start", "pc"], 3);
    assert!(err.contains("no UEFI firmware fits"), "{err}");
    assert!(err.contains("40-edk2-x86_64-secure-enrolled.json"), "{err}");
    assert!(err.contains("machine: q35"), "{err}");

    add(&home, "sb", &guest_config_yaml("sb", "secure_boot: true\n"));
    let err = fails_with(&home, &["info", "sb"], 3);
    assert!(err.contains("needs `firmware: uefi`"), "{err}");

    let err = fails_with(&home, &["add", "--name", "typo", "--firmware", "efi"], 3);
    assert!(err.contains("`bios` or `uefi`"), "{err}");

    // Secure Boot on q35: the enrolled-keys firmware, SMM and the secure flash.
    add(
        &home,
        "q35sb",
        &guest_config_yaml("q35sb", "firmware: uefi\nsecure_boot: true\n"),
    );
    let info = maqet_json(&home, &["info", "q35sb"]);
    let argv = info["qemu_argv"].to_string();
    assert!(argv.contains("smm=on"), "{argv}");
    assert!(
        argv.contains("driver=cfi.pflash01,property=secure,value=on"),
        "{argv}"
    );
    assert_eq!(info["firmware"]["secure_boot"], true, "{info}");
    assert!(
        info["firmware"]["descriptor"]
            .as_str()
            .is_some_and(|d| d.ends_with("secure-enrolled.json")),
        "{info}"
    );
}

/// Eight random bytes from the guest's TPM: a raw TPM2_GetRandom command written to
/// `/dev/tpm0` and its answer read back (what `tpm2_getrandom 8` sends).
fn tpm_random(home: &MaqetHome, vm: &str) -> String {
    let script = "exec 3<>/dev/tpm0; \
                  printf '\\200\\001\\000\\000\\000\\014\\000\\000\\001\\173\\000\\010' >&3; \
                  dd bs=64 count=1 <&3 2>/dev/null | od -An -tx1 | tr -d ' \\n'";
    let out = exec(home, vm, script);
    // TPM_ST_NO_SESSIONS, size 20, TPM_RC_SUCCESS, 8 bytes follow.
    assert!(
        out.starts_with("80010000001400000000") && out.len() == 40,
        "the TPM did not answer GetRandom: {out:?}"
    );
    out[24..].to_string()
}

fn pid_of(report: &serde_json::Value, key: &str) -> u32 {
    report[key]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no {key} in {report}"))
}

#[test]
fn a_tpm_guest_gets_tpm2_and_swtpm_is_supervised_and_readopted_with_qemu() {
    require_ovmf();
    assert!(
        std::process::Command::new("swtpm")
            .arg("--version")
            .output()
            .is_ok(),
        "swtpm is not installed: install the `swtpm` package (scripts/setup.sh does)"
    );
    let home = MaqetHome::new();
    let extra = "firmware: uefi\ntpm: true\nguest_agent: true\n";
    add(&home, "tpm", &efi_guest_config_yaml("tpm", extra));
    let argv = maqet_json(&home, &["info", "tpm"])["qemu_argv"].to_string();
    assert!(
        argv.contains("tpm-crb,tpmdev=maqet-tpm"),
        "q35 gets tpm-crb: {argv}"
    );
    maqet_ok(&home, &["start", "tpm"]);
    let before = maqet_json(&home, &["status", "tpm"]);
    let swtpm = pid_of(&before, "tpm_pid");
    let runner = pid_of(&before, "runner_pid");
    let qemu = pid_of(&before, "pid");
    wait_agent(&home, "tpm");
    let version = exec(
        &home,
        "tpm",
        "ls /dev/tpm0 >/dev/null && cat /sys/class/tpm/tpm0/tpm_version_major",
    );
    assert_eq!(version.trim(), "2", "the guest has no TPM 2.0");
    let first = tpm_random(&home, "tpm");

    // The runner dies: the next command's new runner takes over QEMU and swtpm together.
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(
        unsafe { libc::kill(runner as libc::pid_t, libc::SIGKILL) },
        0
    );
    assert!(maqet_tests::cli::wait_until_dead(
        runner,
        std::time::Duration::from_secs(10)
    ));
    assert_ne!(
        tpm_random(&home, "tpm"),
        first,
        "the TPM repeats its random bytes"
    );
    let after = maqet_json(&home, &["status", "tpm"]);
    assert_eq!(pid_of(&after, "pid"), qemu, "{after}");
    assert_eq!(pid_of(&after, "tpm_pid"), swtpm, "the same swtpm: {after}");
    assert_ne!(pid_of(&after, "runner_pid"), runner, "{after}");
    let data_dir = PathBuf::from(
        maqet_json(&home, &["info", "tpm"])["data_dir"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let log = std::fs::read_to_string(data_dir.join("runner.log")).unwrap_or_default();
    assert!(
        log.contains(&format!("supervising swtpm pid {swtpm}")),
        "the new runner does not watch swtpm:\n{log}"
    );

    // swtpm ends with QEMU; its state stays for the next start.
    maqet_ok(&home, &["stop", "tpm", "--force"]);
    assert!(
        maqet_tests::cli::wait_until_dead(swtpm, std::time::Duration::from_secs(10)),
        "swtpm {swtpm} outlived QEMU"
    );
    assert!(
        maqet_json(&home, &["status", "tpm"])
            .get("tpm_pid")
            .is_none()
    );
    let state: Vec<_> = std::fs::read_dir(data_dir.join("tpm"))
        .expect("the TPM state directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        state.iter().any(|n| n.starts_with("tpm2-")),
        "no TPM state kept: {state:?}"
    );
}
