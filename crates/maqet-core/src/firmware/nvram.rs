//! The VM's own UEFI variable store: a qcow2 copy of the firmware's template, made at the
//! first UEFI start in `<data>/vms/<id>/firmware/` and kept from then on (boot entries and
//! Secure Boot keys the guest writes survive restarts, and live snapshots include it).

use std::path::{Path, PathBuf};

use maqet_storage::{ImageFormat, QemuImg};

use super::{FirmwareError, SelectedFirmware};

/// The NVRAM file's name inside the VM's `firmware/` directory.
pub const NVRAM_FILE: &str = "uefi-vars.qcow2";

/// The file naming the template an NVRAM was copied from, next to it.
const TEMPLATE_NOTE: &str = "uefi-vars.template";

/// Where a VM's NVRAM lives.
pub fn nvram_path(vm_data_dir: &Path) -> PathBuf {
    vm_data_dir.join("firmware").join(NVRAM_FILE)
}

/// Makes the NVRAM from the selected firmware's template when it does not exist yet; returns
/// the file when it was created now. An NVRAM made from another template is refused (the
/// variables of one firmware build do not fit another).
pub fn prepare_nvram(
    selected: &SelectedFirmware,
    nvram: &Path,
) -> Result<Option<PathBuf>, FirmwareError> {
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| FirmwareError::Nvram {
        path: nvram.to_path_buf(),
        source,
    };
    let note = nvram.with_file_name(TEMPLATE_NOTE);
    if nvram.exists() {
        if let Ok(text) = std::fs::read_to_string(&note) {
            let made_from = PathBuf::from(text.trim_end_matches('\n'));
            if made_from != selected.vars_template {
                return Err(FirmwareError::NvramTemplateChanged {
                    path: nvram.to_path_buf(),
                    made_from,
                    wanted: selected.vars_template.clone(),
                });
            }
        }
        return Ok(None);
    }
    if let Some(dir) = nvram.parent() {
        crate::dirs::create_private_dir(dir).map_err(|e| failed(Box::new(e)))?;
    }
    QemuImg::new()
        .convert(&selected.vars_template, nvram, ImageFormat::Qcow2, None)
        .map_err(|e| failed(Box::new(e)))?;
    let text = format!("{}\n", selected.vars_template.display());
    if let Err(e) = std::fs::write(&note, text) {
        let _ = std::fs::remove_file(nvram);
        return Err(failed(Box::new(e)));
    }
    Ok(Some(nvram.to_path_buf()))
}
