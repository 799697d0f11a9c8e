//! `SavedStateError`: why saving a VM's memory (`stop --save`, `stop --save-as`) or restoring
//! it (`start` of a saved VM, `start --ephemeral --from-state`) refused or failed.

use std::path::PathBuf;

use crate::{ErrorKind, MaqetError};

/// A VM's memory and device state could not be saved or restored.
#[derive(Debug, thiserror::Error)]
pub enum SavedStateError {
    /// The QEMU command line differs from the one the state was saved under (exit 3).
    #[error(
        "VM `{vm}` was saved under another configuration ({difference}), and its saved memory only fits the configuration it was saved with: revert the config to restore it, or `maqet start {vm} --fresh` to discard the saved state and boot anew"
    )]
    ConfigChanged {
        /// The VM's name.
        vm: String,
        /// The first difference between the saved and the current QEMU command line.
        difference: String,
    },
    /// A disk changed since the state was saved, so the guest's memory no longer matches it
    /// (exit 3).
    #[error(
        "disk {} of VM `{vm}` changed since its state was saved ({what}), so restoring the saved memory would corrupt it: {way_out}",
        disk.display()
    )]
    DiskChanged {
        /// The VM's name.
        vm: String,
        /// The disk file.
        disk: PathBuf,
        /// What changed (size, modification time, gone).
        what: String,
        /// How to go on (`start --fresh`, save the state again).
        way_out: String,
    },
    /// A command would write the disks of a VM whose saved state needs them unchanged (exit 3).
    #[error(
        "VM `{vm}` has a saved state (`maqet stop --save`) that needs its disks unchanged, and `{command}` would change them: restore it first (`maqet start {vm}`, then stop it), or discard it with `maqet start {vm} --fresh`"
    )]
    DisksPinned {
        /// The VM's name.
        vm: String,
        /// The command refused.
        command: String,
    },
    /// `start --from-state` while a managed save waits to be restored (exit 3).
    #[error(
        "VM `{vm}` has a saved state from `maqet stop --save` waiting: `maqet start {vm}` restores it, `maqet start {vm} --fresh` discards it; then `--from-state` can be used"
    )]
    ManagedSavePending {
        /// The VM's name.
        vm: String,
    },
    /// `--from-state` without `--ephemeral` (exit 3).
    #[error(
        "`--from-state {name}` needs `--ephemeral`: the state stays usable only while the guest's writes never reach the disks"
    )]
    FromStateNeedsEphemeral {
        /// The state asked for.
        name: String,
    },
    /// `--fresh` together with `--from-state` (exit 3).
    #[error("`--fresh` boots anew and `--from-state` restores a saved state: give one of them")]
    FreshWithFromState,
    /// `--save` together with `--save-as`, `--force` or `--agent` (exit 3).
    #[error(
        "`{option}` cannot be combined with `{other}`: a save pauses the guest and ends QEMU itself"
    )]
    SaveConflict {
        /// The save option given (`--save`, `--save-as`).
        option: String,
        /// The option it conflicts with.
        other: String,
    },
    /// A state name with characters outside `[A-Za-z0-9._-]` (exit 3).
    #[error(
        "`{name}` is not a valid state name: use 1 to 64 letters, digits, `.`, `_` or `-`, not starting with `.`"
    )]
    BadName {
        /// The name given.
        name: String,
    },
    /// `--from-state NAME` where the VM has no such state (exit 3).
    #[error(
        "VM `{vm}` has no saved state `{name}`; {}",
        if states.is_empty() {
            format!("make one with `maqet stop {vm} --save-as {name}` while it runs")
        } else {
            format!("its states: {}", states.join(", "))
        }
    )]
    NoSuchState {
        /// The VM's name.
        vm: String,
        /// The state asked for.
        name: String,
        /// The VM's states.
        states: Vec<String>,
    },
    /// The VM records a managed save but its image is gone (exit 3).
    #[error(
        "VM `{vm}` is recorded as saved, but its saved state {} is gone: `maqet start {vm} --fresh` boots it anew",
        image.display()
    )]
    ImageMissing {
        /// The VM's name.
        vm: String,
        /// Where the image should be.
        image: PathBuf,
    },
    /// The description beside a saved image cannot be read (exit 1).
    #[error(
        "the description of VM `{vm}`'s saved state ({}) cannot be read; `maqet start {vm} --fresh` discards the state",
        path.display()
    )]
    BadDescription {
        /// The VM's name.
        vm: String,
        /// The description file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The VM runs in a way whose state cannot be saved consistently (exit 3).
    #[error("VM `{vm}` cannot be saved: {why}; stop it without `--save`")]
    Unsupported {
        /// The VM's name.
        vm: String,
        /// Why (an `--ephemeral` run, a TPM).
        why: String,
    },
    /// QEMU could not write the state; the VM runs on as before (exit 1).
    #[error("saving VM `{vm}` failed ({why}); the VM runs on as before and nothing was saved")]
    SaveFailed {
        /// The VM's name.
        vm: String,
        /// QEMU's reason.
        why: String,
    },
    /// QEMU could not load the state; it is kept (exit 1).
    #[error(
        "restoring VM `{vm}` from {} failed ({why}); the saved state is kept: `maqet start {vm} --fresh` discards it and boots anew",
        image.display()
    )]
    RestoreFailed {
        /// The VM's name.
        vm: String,
        /// The saved image.
        image: PathBuf,
        /// What went wrong.
        why: String,
    },
}

impl SavedStateError {
    /// The class of this failure, which decides the exit code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SavedStateError::NoSuchState { .. } | SavedStateError::ImageMissing { .. } => {
                ErrorKind::NotFound
            }
            SavedStateError::BadDescription { .. }
            | SavedStateError::SaveFailed { .. }
            | SavedStateError::RestoreFailed { .. } => ErrorKind::Failure,
            _ => ErrorKind::InvalidInput,
        }
    }
}

impl From<SavedStateError> for MaqetError {
    fn from(err: SavedStateError) -> Self {
        MaqetError::SavedState(Box::new(err))
    }
}
