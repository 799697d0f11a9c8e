//! The QEMU arguments a selected firmware needs: the machine type and SMM, the pflash `secure`
//! property, and the two pflash units as `-blockdev` nodes (code read-only, the VM's NVRAM
//! writable qcow2).

use std::path::Path;

use super::{CODE_NODE, FirmwareError, FirmwareRequest, SelectedFirmware, VARS_NODE};

/// The machine type maqet gives a UEFI VM whose config names none.
pub const DEFAULT_UEFI_MACHINE: &str = "q35";

/// QEMU options that would load a second firmware.
const FIRMWARE_OPTIONS: &[&str] = &["-bios", "-pflash"];

/// The machine type the argv gives (`-machine q35,...`, `-M type=pc`), if any.
pub fn machine_type(argv: &[String]) -> Option<String> {
    let mut words = argv.iter();
    let mut found = None;
    while let Some(word) = words.next() {
        if word == "-machine" || word == "-M" {
            let Some(value) = words.next() else { break };
            for part in value.split(',') {
                match part.split_once('=') {
                    Some(("type", t)) => found = Some(t.to_string()),
                    None if !part.is_empty() => found = Some(part.to_string()),
                    _ => {}
                }
            }
        }
    }
    found
}

/// Whether the argv's machine is a q35 (which wants `tpm-crb`; others get `tpm-tis`).
pub fn machine_is_q35(argv: &[String]) -> bool {
    machine_type(argv).is_some_and(|m| m == "q35" || m.starts_with("pc-q35-"))
}

/// The target architecture of the QEMU binary (`qemu-system-aarch64` gives `aarch64`;
/// anything else is taken as x86_64).
pub fn architecture(binary: &str) -> String {
    Path::new(binary)
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("qemu-system-"))
        .map_or_else(|| "x86_64".into(), str::to_string)
}

/// A machine alias as the versioned type descriptors name (`q35` runs `pc-q35-*`).
fn versioned(machine: &str) -> String {
    match machine {
        "q35" => "pc-q35-latest".into(),
        "pc" => "pc-i440fx-latest".into(),
        other => other.into(),
    }
}

/// Selects the firmware for a rendered argv (binary first): `Ok(None)` when the config boots
/// BIOS. The machine the argv names is checked; without one, [`DEFAULT_UEFI_MACHINE`] is used.
pub fn select_for_argv(
    request: Option<FirmwareRequest>,
    argv: &[String],
    found: &[super::FoundDescriptor],
) -> Result<Option<(SelectedFirmware, Option<String>)>, FirmwareError> {
    let Some(request) = request else {
        return Ok(None);
    };
    if let Some(option) = argv.iter().find(|w| FIRMWARE_OPTIONS.contains(&w.as_str())) {
        return Err(FirmwareError::Config(format!(
            "`firmware: uefi` loads the firmware itself; remove `{option}` from `arguments`/`args`"
        )));
    }
    let given = machine_type(argv);
    let machine = given.as_deref().unwrap_or(DEFAULT_UEFI_MACHINE);
    let arch = architecture(argv.first().map_or("", String::as_str));
    let selected = super::select(request, &arch, &versioned(machine), found)?;
    Ok(Some((selected, given)))
}

/// The arguments to append: `machine_given` is the type the argv already names (then only
/// properties are added, in a second `-machine` that QEMU merges with the first).
pub fn firmware_args(
    selected: &SelectedFirmware,
    machine_given: Option<&str>,
    nvram: &Path,
) -> Vec<String> {
    let mut machine = Vec::new();
    if machine_given.is_none() {
        machine.push(DEFAULT_UEFI_MACHINE.to_string());
    }
    if selected.requires_smm {
        machine.push("smm=on".into());
    }
    machine.push(format!("pflash0={CODE_NODE},pflash1={VARS_NODE}"));
    let mut argv = vec!["-machine".to_string(), machine.join(",")];
    if selected.requires_smm {
        argv.extend([
            "-global".to_string(),
            "driver=cfi.pflash01,property=secure,value=on".to_string(),
        ]);
    }
    let code_file = format!("{CODE_NODE}-file");
    argv.extend([
        "-blockdev".to_string(),
        format!(
            "node-name={code_file},driver=file,filename={},read-only=on",
            qemu_escape(&selected.code)
        ),
        "-blockdev".to_string(),
        format!(
            "node-name={CODE_NODE},driver={},file={code_file},read-only=on",
            selected.code_format
        ),
        "-blockdev".to_string(),
        format!(
            "node-name={VARS_NODE}-file,driver=file,filename={}",
            qemu_escape(nvram)
        ),
        "-blockdev".to_string(),
        format!("node-name={VARS_NODE},driver=qcow2,file={VARS_NODE}-file"),
    ]);
    argv
}

/// A path as a QEMU option value (a comma is doubled).
fn qemu_escape(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    fn secure() -> SelectedFirmware {
        SelectedFirmware {
            descriptor: PathBuf::from("/d/40.json"),
            description: String::new(),
            code: PathBuf::from("/o/CODE.ms.fd"),
            code_format: "raw".into(),
            vars_template: PathBuf::from("/o/VARS.ms.fd"),
            requires_smm: true,
            secure_boot: true,
        }
    }

    #[test]
    fn machine_types_are_read_from_any_form() {
        assert_eq!(
            machine_type(&words("q -machine q35,accel=tcg")).as_deref(),
            Some("q35")
        );
        assert_eq!(
            machine_type(&words("q -M type=pc,smm=off")).as_deref(),
            Some("pc")
        );
        assert_eq!(machine_type(&words("q -m 1G")), None);
        assert_eq!(architecture("/usr/bin/qemu-system-aarch64"), "aarch64");
        assert_eq!(architecture("qemu-kvm"), "x86_64");
    }

    #[test]
    fn secure_boot_gets_q35_smm_the_secure_flash_and_two_pflash_nodes() {
        let argv = firmware_args(
            &secure(),
            None,
            Path::new("/data/vms/1/firmware/uefi-vars.qcow2"),
        );
        assert_eq!(
            argv.join(" "),
            "-machine q35,smm=on,pflash0=maqet-fw-code,pflash1=maqet-fw-vars \
             -global driver=cfi.pflash01,property=secure,value=on \
             -blockdev node-name=maqet-fw-code-file,driver=file,filename=/o/CODE.ms.fd,read-only=on \
             -blockdev node-name=maqet-fw-code,driver=raw,file=maqet-fw-code-file,read-only=on \
             -blockdev node-name=maqet-fw-vars-file,driver=file,filename=/data/vms/1/firmware/uefi-vars.qcow2 \
             -blockdev node-name=maqet-fw-vars,driver=qcow2,file=maqet-fw-vars-file"
        );
        let given = firmware_args(&secure(), Some("q35"), Path::new("/a,b"));
        assert_eq!(
            given[1],
            "smm=on,pflash0=maqet-fw-code,pflash1=maqet-fw-vars"
        );
        assert!(given.iter().any(|w| w.ends_with("filename=/a,,b")));
    }

    #[test]
    fn a_hand_written_firmware_option_is_refused() {
        let err = select_for_argv(
            Some(FirmwareRequest { secure_boot: false }),
            &words("qemu-system-x86_64 -bios /x.fd"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("remove `-bios`"), "{err}");
        assert!(matches!(
            select_for_argv(None, &words("q -bios x"), &[]),
            Ok(None)
        ));
    }
}
