//! The firmware side of the VM commands: the UEFI firmware a VM's config selects, its NVRAM
//! made before a start, and what `info` shows about both.

use std::path::PathBuf;

use maqet_state::{StorageEntry, VmRecord};
use serde::Serialize;

use crate::firmware::{self, SelectedFirmware};
use crate::{Maqet, MaqetError};

/// `info`'s firmware section for a UEFI VM.
#[derive(Debug, Clone, Serialize)]
pub struct FirmwareInfo {
    /// The chosen firmware (descriptor, code image, template, Secure Boot, SMM).
    #[serde(flatten)]
    pub selected: SelectedFirmware,
    /// The VM's own variable store.
    pub nvram: PathBuf,
    /// Whether it exists yet (it is made at the first start).
    pub nvram_exists: bool,
}

/// Whether the VM has an emulated TPM (`tpm: true`).
pub(crate) fn wants_tpm(config: &serde_json::Value) -> bool {
    crate::config::VmConfig::from_value(config).tpm
}

impl Maqet {
    /// The pid of the VM's TPM emulator while it runs (`status`, `inspect`).
    pub(crate) fn swtpm_pid(&self, vm: &VmRecord) -> Option<u32> {
        if !wants_tpm(&vm.config) {
            return None;
        }
        maqet_runner::swtpm::running(&self.vm_paths(vm)).map(|id| id.pid)
    }

    /// The firmware a VM boots and the machine type its argv names: `None` for BIOS.
    pub(crate) fn vm_firmware(
        &self,
        vm: &VmRecord,
        argv: &[String],
    ) -> Result<Option<(SelectedFirmware, Option<String>)>, MaqetError> {
        let Some(request) = firmware::request_of(&vm.config)? else {
            return Ok(None);
        };
        let found = firmware::load_all(&firmware::search_dirs())?;
        Ok(firmware::select_for_argv(Some(request), argv, &found)?)
    }

    /// `info`'s firmware section: `None` for a BIOS VM.
    pub(crate) fn firmware_info(
        &self,
        vm: &VmRecord,
        argv: &[String],
    ) -> Result<Option<FirmwareInfo>, MaqetError> {
        let Some((selected, _)) = self.vm_firmware(vm, argv)? else {
            return Ok(None);
        };
        let nvram = firmware::nvram_path(&self.dirs().vm_data_dir(&vm.id));
        Ok(Some(FirmwareInfo {
            nvram_exists: nvram.is_file(),
            selected,
            nvram,
        }))
    }

    /// Makes a UEFI VM's NVRAM when it has none yet, and registers it as the VM's storage
    /// (so `rm --clean-storage` deletes it). Returns the file when it was made now.
    pub(crate) fn prepare_firmware(
        &self,
        vm: &VmRecord,
        argv: &[String],
    ) -> Result<Option<PathBuf>, MaqetError> {
        let Some((selected, _)) = self.vm_firmware(vm, argv)? else {
            return Ok(None);
        };
        let nvram = firmware::nvram_path(&self.dirs().vm_data_dir(&vm.id));
        let made = firmware::prepare_nvram(&selected, &nvram)?;
        if made.is_some() {
            self.db()?.register_storage(&StorageEntry {
                vm_id: vm.id.clone(),
                path: nvram.clone(),
                role: "nvram".into(),
                created_by_maqet: true,
                size_bytes: std::fs::metadata(&nvram).ok().map(|m| m.len()),
                created_at: String::new(),
            })?;
        }
        Ok(made)
    }
}
