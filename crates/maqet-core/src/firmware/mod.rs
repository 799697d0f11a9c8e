//! `firmware: uefi` and `secure_boot`: the firmware chosen from QEMU's firmware descriptors
//! (as libvirt chooses it), the QEMU arguments it needs, and the VM's own UEFI variable
//! store (NVRAM) kept as qcow2 in its data directory so snapshots include it.
//!
//! `firmware: bios` (the default) adds nothing: QEMU's built-in SeaBIOS boots the VM as before.
//! How a descriptor is picked is recorded in `docs/decisions/2026-12-07-firmware-selection.md`.

mod args;
mod descriptor;
mod nvram;
mod select;

use std::path::PathBuf;

use serde_json::Value;

pub use args::{DEFAULT_UEFI_MACHINE, firmware_args, machine_is_q35, select_for_argv};
pub use descriptor::{Descriptor, FoundDescriptor, load_all, search_dirs};
pub use nvram::{NVRAM_FILE, nvram_path, prepare_nvram};
pub use select::{FirmwareRequest, SelectedFirmware, select};

/// The block node of the firmware code (read-only pflash unit 0).
pub const CODE_NODE: &str = "maqet-fw-code";
/// The block node of the VM's variable store (writable pflash unit 1), in snapshots too.
pub const VARS_NODE: &str = "maqet-fw-vars";

/// Which firmware a VM boots (the `firmware` key).
pub use maqet_config::Firmware as FirmwareKind;

/// Why no firmware could be used.
#[derive(Debug, thiserror::Error)]
pub enum FirmwareError {
    /// A descriptor file could not be read.
    #[error("cannot read the firmware descriptor {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A descriptor file is not valid descriptor JSON.
    #[error("the firmware descriptor {} is not valid; fix or remove it", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// No descriptor fits the request.
    #[error("no UEFI firmware fits {wanted}; {found}")]
    NoneFits {
        /// What was asked for (`x86_64 machine q35 with Secure Boot`).
        wanted: String,
        /// What was found, and what to do.
        found: String,
    },
    /// The config asks for something firmware cannot give.
    #[error("{0}")]
    Config(String),
    /// The NVRAM could not be created or checked.
    #[error("cannot prepare the UEFI variable store {}", path.display())]
    Nvram {
        /// The NVRAM file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The NVRAM was made from another firmware's template than the one now selected.
    #[error(
        "the UEFI variable store {} was made from {} but the config now selects {}; delete it to start from the new template (its boot entries are lost)",
        path.display(), made_from.display(), wanted.display()
    )]
    NvramTemplateChanged {
        /// The NVRAM file.
        path: PathBuf,
        /// The template it was copied from.
        made_from: PathBuf,
        /// The template the config selects now.
        wanted: PathBuf,
    },
}

impl FirmwareError {
    /// The broad class, for the exit code.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            FirmwareError::NoneFits { .. } => crate::ErrorKind::NotFound,
            FirmwareError::Config(_)
            | FirmwareError::Malformed { .. }
            | FirmwareError::NvramTemplateChanged { .. } => crate::ErrorKind::InvalidInput,
            FirmwareError::Unreadable { .. } | FirmwareError::Nvram { .. } => {
                crate::ErrorKind::Failure
            }
        }
    }
}

/// What a config asks of firmware: `None` for `firmware: bios` (or unset).
pub fn request_of(config: &Value) -> Result<Option<FirmwareRequest>, FirmwareError> {
    let kind = match config.get("firmware").and_then(Value::as_str) {
        None => FirmwareKind::Bios,
        Some(text) => FirmwareKind::parse(text).ok_or_else(|| {
            FirmwareError::Config(format!(
                "`firmware: {text}` is not one of {}",
                FirmwareKind::CHOICES.join(", ")
            ))
        })?,
    };
    let secure_boot = config.get("secure_boot") == Some(&Value::Bool(true));
    match kind {
        FirmwareKind::Bios if secure_boot => Err(FirmwareError::Config(
            "`secure_boot: true` needs `firmware: uefi` (BIOS has no Secure Boot)".into(),
        )),
        FirmwareKind::Bios => Ok(None),
        FirmwareKind::Uefi => Ok(Some(FirmwareRequest { secure_boot })),
    }
}

/// Whether the config boots UEFI.
pub fn is_uefi(config: &Value) -> bool {
    matches!(request_of(config), Ok(Some(_)))
}
