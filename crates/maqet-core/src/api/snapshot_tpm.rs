//! The TPM's state with snapshots (`tpm: true`).
//!
//! A live snapshot holds it without maqet's help: QEMU's TPM emulator backend saves swtpm's
//! state blobs with the VM's device state and hands them back to swtpm on load. An offline
//! snapshot (`qemu-img`, VM stopped) copies swtpm's state directory (`tpm/`) to
//! `tpm-snapshots/<drive>.<name>/` in the VM's data directory (both names hex-encoded, so no
//! snapshot name can point elsewhere), and loading it puts that copy back. A disk-only
//! snapshot of a running VM does not hold it. `snapshot create|load` says which in
//! `tpm_state`.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use maqet_runner::swtpm;
use maqet_state::VmRecord;

use super::snapshot::SnapshotAction;
use crate::{Maqet, MaqetError, SnapshotError};

/// What a snapshot holds of the TPM, in `snapshot`'s result.
pub const INCLUDED: &str = "included";
/// The snapshot holds no TPM state: loading it leaves the TPM as it is.
pub const NOT_INCLUDED: &str = "not-included";

/// Where an offline snapshot `name` of `drive` keeps the TPM's state.
pub fn copy_dir(vm_data_dir: &Path, drive: &str, name: &str) -> PathBuf {
    let hex = |text: &str| {
        text.bytes().fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    };
    vm_data_dir
        .join("tpm-snapshots")
        .join(format!("{}.{}", hex(drive), hex(name)))
}

/// Copies swtpm's state directory to `copy` (replacing an older copy). A VM that never
/// started has no state yet: the copy is then empty, and loading it gives a fresh TPM.
pub fn save(vm_data_dir: &Path, copy: &Path) -> io::Result<()> {
    let state = swtpm_state_dir(vm_data_dir);
    if copy.exists() {
        std::fs::remove_dir_all(copy)?;
    }
    std::fs::create_dir_all(copy)?;
    copy_files(&state, copy)
}

/// Puts the copy back as swtpm's state; `false` when the snapshot has none.
pub fn restore(vm_data_dir: &Path, copy: &Path) -> io::Result<bool> {
    if !copy.is_dir() {
        return Ok(false);
    }
    let state = swtpm_state_dir(vm_data_dir);
    if state.exists() {
        std::fs::remove_dir_all(&state)?;
    }
    std::fs::create_dir_all(&state)?;
    copy_files(copy, &state)?;
    Ok(true)
}

/// Deletes the copy of a deleted snapshot, if there is one.
pub fn discard(copy: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(copy) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl Maqet {
    /// After `snapshot ACTION` of a `tpm: true` VM: copies, restores or deletes the TPM state
    /// of an offline snapshot, and says what the snapshot holds (`None` without a TPM and
    /// for `delete`).
    pub(crate) fn snapshot_tpm_state(
        &self,
        record: &VmRecord,
        action: SnapshotAction,
        drive: &str,
        name: &str,
        live: bool,
        running: bool,
    ) -> Result<Option<&'static str>, MaqetError> {
        if !super::firmware::wants_tpm(&record.config) {
            return Ok(None);
        }
        if running {
            // Live: in QEMU's device state. Disk only: nowhere.
            return Ok(match action {
                SnapshotAction::Create | SnapshotAction::Load => {
                    Some(if live { INCLUDED } else { NOT_INCLUDED })
                }
                _ => None,
            });
        }
        let data_dir = self.dirs().vm_data_dir(&record.id);
        let copy = copy_dir(&data_dir, drive, name);
        let failed = |e| SnapshotError::tpm_state(record, copy.clone(), e);
        Ok(match action {
            SnapshotAction::Create => {
                save(&data_dir, &copy).map_err(failed)?;
                Some(INCLUDED)
            }
            SnapshotAction::Load => Some(if restore(&data_dir, &copy).map_err(failed)? {
                INCLUDED
            } else {
                NOT_INCLUDED
            }),
            _ => {
                discard(&copy).map_err(failed)?;
                None
            }
        })
    }
}

fn swtpm_state_dir(vm_data_dir: &Path) -> PathBuf {
    let paths = maqet_runner::layout::VmPaths::new(PathBuf::new(), vm_data_dir.to_path_buf());
    swtpm::state_dir(&paths)
}

/// Copies the regular files of `from` (swtpm keeps its state flat) into `to`; swtpm's lock
/// file is left out. A missing `from` copies nothing.
fn copy_files(from: &Path, to: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() && entry.file_name() != ".lock" {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offline_copy_comes_back_on_load_and_goes_on_delete() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let state = data.join("tpm");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("tpm2-00.permall"), b"before").unwrap();
        std::fs::write(state.join(".lock"), b"").unwrap();
        let copy = copy_dir(data, "hdd", "../x");
        assert!(copy.starts_with(data.join("tpm-snapshots")));
        assert_eq!(copy.file_name().unwrap(), "686464.2e2e2f78");
        save(data, &copy).unwrap();
        assert!(!copy.join(".lock").exists());
        std::fs::write(state.join("tpm2-00.permall"), b"after").unwrap();
        assert!(restore(data, &copy).unwrap());
        assert_eq!(
            std::fs::read(state.join("tpm2-00.permall")).unwrap(),
            b"before"
        );
        discard(&copy).unwrap();
        discard(&copy).unwrap();
        assert!(!restore(data, &copy).unwrap());
    }
}
