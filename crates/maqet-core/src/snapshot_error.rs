//! `SnapshotError`: why `maqet snapshot` refused or failed, one variant a case.

use std::path::PathBuf;

use maqet_qmp::QmpError;
use maqet_state::VmRecord;
use maqet_storage::StorageError;

use crate::{ErrorKind, MaqetError};

/// A snapshot could not be taken, loaded, deleted or listed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// `create`, `load` or `delete` without a snapshot name.
    #[error("`snapshot {action}` needs a snapshot name: maqet snapshot {vm} {action} {drive} NAME")]
    NameMissing {
        /// The VM's name.
        vm: String,
        /// The action (`create`, `load`, `delete`).
        action: String,
        /// The drive.
        drive: String,
    },
    /// `--overwrite` with an action other than `create`.
    #[error("`--overwrite` only applies to `snapshot create`")]
    OverwriteOutsideCreate,
    /// `load` of a disk snapshot was asked for while the VM runs, without `--live`.
    #[error(
        "VM `{vm}` is running, and loading a disk snapshot under a running guest would corrupt it: use --live to restore the VM's full state through QEMU, or stop the VM first (`maqet stop {vm}`)"
    )]
    LoadWhileRunning {
        /// The VM's name.
        vm: String,
    },
    /// `--live` was asked for on a VM that is not running.
    #[error(
        "VM `{vm}` is not running, so there is nothing live to snapshot; drop --live to use the image (`qemu-img`)"
    )]
    LiveWhileStopped {
        /// The VM's name.
        vm: String,
    },
    /// The VM has no drive of that name.
    #[error(
        "VM `{vm}` has no drive `{drive}`; its drives: {}",
        list_or_none(drives)
    )]
    NoSuchDrive {
        /// The VM's name.
        vm: String,
        /// The drive asked for.
        drive: String,
        /// The VM's drives.
        drives: Vec<String>,
    },
    /// The drive is not a qcow2 disk (a raw disk, a cdrom, ...).
    #[error(
        "drive `{drive}` of VM `{vm}` is a {what} drive, which cannot hold snapshots; only qcow2 disks can"
    )]
    DriveCannotHoldSnapshots {
        /// The VM's name.
        vm: String,
        /// The drive.
        drive: String,
        /// What the drive is (`raw`, `cdrom`, ...).
        what: String,
    },
    /// The drive's image is of a format without snapshots.
    #[error(
        "drive `{drive}` of VM `{vm}` holds a {format} image, which cannot hold snapshots; only qcow2 images can"
    )]
    ImageCannotHoldSnapshots {
        /// The VM's name.
        vm: String,
        /// The drive.
        drive: String,
        /// The image's format.
        format: String,
    },
    /// The drive's image is not created yet.
    #[error(
        "drive `{drive}` of VM `{vm}` has no image yet at {} (it is created on the first start); nothing to snapshot",
        file.display()
    )]
    NoImage {
        /// The VM's name.
        vm: String,
        /// The drive.
        drive: String,
        /// Where the image will be.
        file: PathBuf,
    },
    /// A snapshot of that name is already on the drive.
    #[error(
        "snapshot `{name}` already exists on drive `{drive}` of VM `{vm}`; add --overwrite to replace it"
    )]
    Exists {
        /// The VM's name.
        vm: String,
        /// The drive.
        drive: String,
        /// The snapshot's name.
        name: String,
    },
    /// No snapshot of that name is on the drive.
    #[error(
        "snapshot `{name}` not found on drive `{drive}` of VM `{vm}`; existing snapshots: {}",
        list_or_none(available)
    )]
    Missing {
        /// The VM's name.
        vm: String,
        /// The drive.
        drive: String,
        /// The snapshot asked for.
        name: String,
        /// The snapshots the drive has.
        available: Vec<String>,
    },
    /// QEMU died during a live snapshot step.
    #[error(
        "QEMU of VM `{vm}` (pid {}) died while trying to {step} snapshot `{name}` on drive `{drive}`; \
         the snapshot is not complete. `maqet status {vm}` shows how QEMU ended; check the \
         image with `maqet snapshot {vm} list {drive}` after starting the VM again",
        pid.map_or_else(|| "?".to_string(), |p| p.to_string())
    )]
    QemuDied {
        /// The VM's name.
        vm: String,
        /// QEMU's process id, when known.
        pid: Option<u32>,
        /// The step (`save`, `load`, `delete`).
        step: String,
        /// The snapshot's name.
        name: String,
        /// The drive.
        drive: String,
        /// The QMP failure that showed it.
        #[source]
        source: QmpError,
    },
    /// QEMU refused or did not finish a live snapshot step.
    #[error(
        "QEMU could not {step} snapshot `{name}` on drive `{drive}` of VM `{vm}`; QEMU's reason is below"
    )]
    QemuRefused {
        /// The VM's name.
        vm: String,
        /// The step (`save`, `load`, `delete`).
        step: String,
        /// The snapshot's name.
        name: String,
        /// The drive.
        drive: String,
        /// QEMU's answer.
        #[source]
        source: QmpError,
    },
    /// An offline snapshot's copy of the TPM state could not be written or put back.
    #[error(
        "the disk snapshot is done, but the TPM state of VM `{vm}` could not be copied at {}; \
         check the space and permissions of the VM's data directory, then repeat the command",
        path.display()
    )]
    TpmState {
        /// The VM's name.
        vm: String,
        /// The copy's directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl SnapshotError {
    /// The TPM state of an offline snapshot could not be copied or put back.
    pub(crate) fn tpm_state(vm: &VmRecord, path: PathBuf, source: std::io::Error) -> Self {
        Self::TpmState {
            vm: vm.name.clone(),
            path,
            source,
        }
    }

    /// The class of this failure (and so the exit code).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NameMissing { .. }
            | Self::OverwriteOutsideCreate
            | Self::LoadWhileRunning { .. }
            | Self::LiveWhileStopped { .. }
            | Self::DriveCannotHoldSnapshots { .. }
            | Self::ImageCannotHoldSnapshots { .. } => ErrorKind::InvalidInput,
            Self::NoSuchDrive { .. } | Self::NoImage { .. } | Self::Missing { .. } => {
                ErrorKind::NotFound
            }
            Self::Exists { .. } => ErrorKind::AlreadyExists,
            Self::QemuDied { .. } | Self::TpmState { .. } => ErrorKind::Failure,
            Self::QemuRefused { source, .. } => match source {
                QmpError::JobTimeout { .. } | QmpError::Timeout { .. } => ErrorKind::Timeout,
                _ => ErrorKind::Failure,
            },
        }
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// Rewrites storage errors so they name the VM and drive instead of the image path.
pub(crate) fn drive_error(err: StorageError, record: &VmRecord, drive: &str) -> MaqetError {
    match err {
        StorageError::SnapshotExists { name, .. } => exists_error(record, drive, &name),
        StorageError::SnapshotNotFound { name, available } => {
            missing_error(record, drive, &name, available)
        }
        StorageError::SnapshotUnsupported { format, .. } => {
            SnapshotError::ImageCannotHoldSnapshots {
                vm: record.name.clone(),
                drive: drive.to_string(),
                format,
            }
            .into()
        }
        other => MaqetError::from(other),
    }
}

pub(crate) fn exists_error(record: &VmRecord, drive: &str, name: &str) -> MaqetError {
    SnapshotError::Exists {
        vm: record.name.clone(),
        drive: drive.to_string(),
        name: name.to_string(),
    }
    .into()
}

pub(crate) fn missing_error(
    record: &VmRecord,
    drive: &str,
    name: &str,
    available: Vec<String>,
) -> MaqetError {
    SnapshotError::Missing {
        vm: record.name.clone(),
        drive: drive.to_string(),
        name: name.to_string(),
        available,
    }
    .into()
}
