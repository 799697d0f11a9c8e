//! A VM's identity is its id: names that could be mistaken for ids are refused, and data
//! directories made by older versions (named after the VM) are linked under the VM's id.

use std::path::Path;

use maqet_state::VmRecord;

use crate::{Maqet, MaqetError};

/// Marker file: the data directory's VM directories are keyed by id.
const LAYOUT_MARKER: &str = ".layout-by-id";

/// Whether `name` has the shape of a VM id (a UUID, with or without hyphens).
pub fn looks_like_vm_id(name: &str) -> bool {
    let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    let groups: Vec<&str> = name.split('-').collect();
    let hyphenated = groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| hex(g));
    hyphenated || (name.len() == 32 && hex(name))
}

impl Maqet {
    /// Checks a name for a new VM: the usual name rules, and not something that looks like an
    /// id or is another VM's id (a name is looked up after ids, so it would never be found).
    pub(crate) fn check_new_vm_name(&self, name: &str) -> Result<(), MaqetError> {
        crate::config::check_vm_name(name).map_err(MaqetError::invalid)?;
        if looks_like_vm_id(name) {
            return Err(MaqetError::invalid(format!(
                "VM name `{name}` looks like a VM id; ids and names share one namespace, so pick a name that is not a UUID"
            )));
        }
        if let Some(other) = self.db()?.find_vm(name)?.filter(|vm| vm.id == name) {
            return Err(MaqetError::NameIsAnId {
                name: name.to_string(),
                vm: other.name,
            });
        }
        Ok(())
    }

    /// The VM's data directory, `<data>/vms/<id>`.
    pub fn vm_data_dir(&self, vm: &VmRecord) -> std::path::PathBuf {
        self.dirs().vm_data_dir(&vm.id)
    }

    /// Once per data directory: links `<data>/vms/<id>` to the `<data>/vms/<name>` directory
    /// an older maqet made for each VM (their disks' paths and qcow2 backing references name
    /// it, so it stays where it is), and writes every VM's record file.
    pub(crate) fn migrate_legacy_layout(&self, db: &maqet_state::StateDb) {
        let root = self.dirs().data.join("vms");
        let marker = root.join(LAYOUT_MARKER);
        if marker.exists() {
            return;
        }
        let Ok(vms) = db.list_vms(None) else {
            return;
        };
        for vm in &vms {
            let by_id = self.dirs().vm_data_dir(&vm.id);
            let by_name = self.dirs().legacy_vm_data_dir(&vm.name);
            if by_id.symlink_metadata().is_err() && claimable(&by_name, &vm.id) {
                if let Err(err) = std::os::unix::fs::symlink(&vm.name, &by_id) {
                    tracing::warn!(vm = %vm.name, "cannot link {} to {}: {err}", by_id.display(), by_name.display());
                    continue;
                }
                tracing::info!(vm = %vm.name, "linked the old data directory {} as {}", by_name.display(), by_id.display());
            }
            if !by_id.join(maqet_state::VM_FILE_NAME).exists()
                && let Err(err) = db.write_vm_file(&vm.id)
            {
                tracing::warn!(vm = %vm.name, "cannot write the VM's record file: {err}");
            }
        }
        if crate::dirs::create_private_dir(&root).is_ok() {
            let _ = std::fs::write(&marker, b"VM data directories are <data>/vms/<id>\n");
        }
    }

    /// Removes a VM's data directory if it is empty (and the old-layout link to it).
    pub(crate) fn remove_empty_vm_data_dir(&self, vm: &VmRecord) {
        let by_id = self.dirs().vm_data_dir(&vm.id);
        if by_id
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            if let Ok(target) = std::fs::canonicalize(&by_id)
                && std::fs::remove_dir(&target).is_ok()
            {
                let _ = std::fs::remove_file(&by_id);
            }
            return;
        }
        let _ = std::fs::remove_dir(&by_id);
    }
}

/// Whether an old `<data>/vms/<name>` directory can be taken as VM `id`'s: it exists and no
/// record file in it names another VM.
fn claimable(dir: &Path, id: &str) -> bool {
    dir.is_dir()
        && match maqet_state::read_vm_file(dir) {
            Ok(Some(file)) => file.vm.id == id,
            Ok(None) => true,
            Err(_) => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_look_like_ids_and_names_do_not() {
        assert!(looks_like_vm_id("0b6e3c1a-5f1e-4c8e-9d2a-7a1b2c3d4e5f"));
        assert!(looks_like_vm_id("0B6E3C1A5F1E4C8E9D2A7A1B2C3D4E5F"));
        for name in ["web", "vm-0b6e3c1a", "0b6e3c1a-5f1e-4c8e-9d2a", "deadbeef"] {
            assert!(!looks_like_vm_id(name), "{name}");
        }
    }
}
