//! Picking a descriptor for a VM, the way libvirt does: the first descriptor in priority order
//! whose interface, architecture, machine type and features fit.

use std::path::PathBuf;

use super::FirmwareError;
use super::descriptor::{FlashFile, FoundDescriptor};

/// What a UEFI VM asks of its firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareRequest {
    /// Secure Boot on: the firmware must support it and come with keys enrolled, so it is
    /// enforced from the first boot.
    pub secure_boot: bool,
}

/// The firmware chosen for a VM.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SelectedFirmware {
    /// The descriptor file it came from.
    pub descriptor: PathBuf,
    /// The descriptor's description.
    pub description: String,
    /// The read-only code image.
    pub code: PathBuf,
    /// The code image's format.
    pub code_format: String,
    /// The variable-store template the VM's NVRAM is copied from.
    pub vars_template: PathBuf,
    /// Whether the firmware needs SMM (and the pflash `secure` property).
    pub requires_smm: bool,
    /// Whether Secure Boot is on (a firmware with it and enrolled keys).
    pub secure_boot: bool,
}

/// Chooses the firmware for `request` on `arch` and `machine` among `found` (in priority
/// order). Without Secure Boot, firmware without the feature is preferred, and firmware with
/// keys enrolled is never taken (it would enforce Secure Boot).
pub fn select(
    request: FirmwareRequest,
    arch: &str,
    machine: &str,
    found: &[FoundDescriptor],
) -> Result<SelectedFirmware, FirmwareError> {
    let fits = |f: &&FoundDescriptor| {
        let d = &f.descriptor;
        d.interface_types.iter().any(|t| t == "uefi")
            && d.mapping.device == "flash"
            && d.mapping.executable.is_some()
            && d.mapping.nvram_template.is_some()
            && d.runs(arch, machine)
            && if request.secure_boot {
                d.has("secure-boot") && d.has("enrolled-keys")
            } else {
                !d.has("enrolled-keys")
            }
    };
    let mut candidates: Vec<&FoundDescriptor> = found.iter().filter(fits).collect();
    if !request.secure_boot {
        // Stable: priority order is kept among equals.
        candidates.sort_by_key(|f| f.descriptor.has("secure-boot"));
    }
    let Some(chosen) = candidates.first() else {
        return Err(none_fits(request, arch, machine, found));
    };
    let d = &chosen.descriptor;
    let (Some(code), Some(vars)) = (&d.mapping.executable, &d.mapping.nvram_template) else {
        return Err(none_fits(request, arch, machine, found));
    };
    Ok(SelectedFirmware {
        descriptor: chosen.path.clone(),
        description: d.description.clone(),
        code: code.filename.clone(),
        code_format: format_of(code),
        vars_template: vars.filename.clone(),
        requires_smm: d.has("requires-smm"),
        secure_boot: request.secure_boot,
    })
}

fn format_of(file: &FlashFile) -> String {
    if file.format == "qcow2" {
        "qcow2".into()
    } else {
        "raw".into()
    }
}

fn none_fits(
    request: FirmwareRequest,
    arch: &str,
    machine: &str,
    found: &[FoundDescriptor],
) -> FirmwareError {
    let wanted = format!(
        "{arch} machine `{machine}`{}",
        if request.secure_boot {
            " with Secure Boot (keys enrolled)"
        } else {
            " without enforced Secure Boot"
        }
    );
    let found = if found.is_empty() {
        format!(
            "no firmware descriptors were found in {}; install the `ovmf` package (Debian, Ubuntu) or `edk2-ovmf` (Fedora, Arch)",
            super::search_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        let listed: Vec<String> = found
            .iter()
            .map(|f| {
                let d = &f.descriptor;
                let machines: Vec<String> = d
                    .targets
                    .iter()
                    .map(|t| format!("{} {}", t.architecture, t.machines.join("/")))
                    .collect();
                format!(
                    "{} ({}; {}; features: {})",
                    f.path.display(),
                    d.interface_types.join("/"),
                    machines.join(", "),
                    d.features.join(" ")
                )
            })
            .collect();
        format!(
            "found: {}. Use a machine type one of them runs (`machine: q35`), or install firmware that fits (the `ovmf` package)",
            listed.join("; ")
        )
    };
    FirmwareError::NoneFits { wanted, found }
}

#[cfg(test)]
mod tests {
    use super::super::descriptor::Descriptor;
    use super::*;

    fn debian() -> Vec<FoundDescriptor> {
        let one = |file: &str, code: &str, vars: &str, machines: &str, features: &str| {
            let text = format!(
                r#"{{"description": "{file}", "interface-types": ["uefi"],
                  "mapping": {{"device": "flash",
                    "executable": {{"filename": "{code}", "format": "raw"}},
                    "nvram-template": {{"filename": "{vars}", "format": "raw"}}}},
                  "targets": [{{"architecture": "x86_64", "machines": [{machines}]}}],
                  "features": [{features}], "tags": []}}"#
            );
            FoundDescriptor {
                path: PathBuf::from(format!("/usr/share/qemu/firmware/{file}")),
                descriptor: serde_json::from_str::<Descriptor>(&text).unwrap(),
            }
        };
        vec![
            one(
                "40-edk2-x86_64-secure-enrolled.json",
                "/o/CODE.ms.fd",
                "/o/VARS.ms.fd",
                r#""pc-q35-*""#,
                r#""enrolled-keys", "requires-smm", "secure-boot""#,
            ),
            one(
                "50-edk2-x86_64-secure.json",
                "/o/CODE.secboot.fd",
                "/o/VARS.fd",
                r#""pc-q35-*""#,
                r#""requires-smm", "secure-boot""#,
            ),
            one(
                "60-edk2-x86_64.json",
                "/o/CODE.fd",
                "/o/VARS.fd",
                r#""pc-i440fx-*", "pc-q35-*""#,
                r#""acpi-s3""#,
            ),
        ]
    }

    #[test]
    fn secure_boot_takes_enrolled_keys_and_smm() {
        let chosen = select(
            FirmwareRequest { secure_boot: true },
            "x86_64",
            "pc-q35-9.0",
            &debian(),
        )
        .unwrap();
        assert_eq!(chosen.code, PathBuf::from("/o/CODE.ms.fd"));
        assert_eq!(chosen.vars_template, PathBuf::from("/o/VARS.ms.fd"));
        assert!(chosen.requires_smm && chosen.secure_boot);
    }

    #[test]
    fn without_secure_boot_plain_firmware_is_preferred() {
        for machine in ["pc-q35-9.0", "pc-i440fx-9.0"] {
            let chosen = select(
                FirmwareRequest { secure_boot: false },
                "x86_64",
                machine,
                &debian(),
            )
            .unwrap();
            assert_eq!(chosen.code, PathBuf::from("/o/CODE.fd"), "{machine}");
            assert!(!chosen.requires_smm);
        }
    }

    #[test]
    fn nothing_fitting_lists_what_was_found_or_says_what_to_install() {
        let err = select(
            FirmwareRequest { secure_boot: true },
            "x86_64",
            "pc-i440fx-9.0",
            &debian(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("pc-i440fx-9.0"), "{err}");
        assert!(err.contains("40-edk2-x86_64-secure-enrolled.json"), "{err}");
        assert!(err.contains("machine: q35"), "{err}");
        let err = select(FirmwareRequest { secure_boot: false }, "x86_64", "q35", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("install the `ovmf` package"), "{err}");
        let err = select(
            FirmwareRequest { secure_boot: false },
            "aarch64",
            "virt-9.0",
            &debian(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("aarch64"), "{err}");
    }
}
