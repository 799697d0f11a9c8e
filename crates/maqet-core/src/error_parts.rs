//! What `MaqetError`'s variants carry beyond text (`NeedsStopped`, `PluginFailure`), and the
//! conversions of the lower layers' errors into it.

use std::error::Error as StdError;

use crate::config::ConfigError;
use crate::{ErrorKind, MaqetError, SnapshotError};

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A command that refuses a running VM ([`MaqetError::IsRunning`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedsStopped {
    /// `apply`: a new config takes effect at the next start.
    Apply,
    /// `clone`: the source's disks must not change while they are copied.
    Clone,
    /// `rm` without `--force`.
    Remove,
}

impl NeedsStopped {
    pub(crate) fn refusal(self, vm: &str) -> String {
        match self {
            NeedsStopped::Apply => {
                format!("VM `{vm}` is running; stop it first with `maqet stop {vm}`")
            }
            NeedsStopped::Clone => format!(
                "VM `{vm}` is running and its disks are changing; stop it first (`maqet stop {vm}`), then clone"
            ),
            NeedsStopped::Remove => {
                format!("VM `{vm}` is running; stop it first, or remove it with `--force`")
            }
        }
    }
}

/// A plugin command's failure, as the host saw it: the plugin's own error and its kind.
///
/// It prints as that error (the host adds no sentence of its own, which would only repeat it).
#[derive(Debug)]
pub struct PluginFailure {
    /// Class of failure the plugin gave.
    pub kind: ErrorKind,
    /// The plugin's error.
    pub error: BoxError,
}

impl std::fmt::Display for PluginFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl StdError for PluginFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.error.source()
    }
}

impl From<SnapshotError> for MaqetError {
    fn from(err: SnapshotError) -> MaqetError {
        MaqetError::Snapshot(Box::new(err))
    }
}

/// The error class of a config error (a missing file is "not found", an unreadable or
/// untrusted one "permission denied", everything else invalid input).
pub(crate) fn config_error_kind(err: &ConfigError) -> ErrorKind {
    match err {
        ConfigError::Read { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::InvalidInput,
        },
        ConfigError::Untrusted { .. } => ErrorKind::PermissionDenied,
        _ => ErrorKind::InvalidInput,
    }
}

impl From<crate::firmware::FirmwareError> for MaqetError {
    fn from(err: crate::firmware::FirmwareError) -> MaqetError {
        MaqetError::Firmware(Box::new(err))
    }
}

impl From<ConfigError> for MaqetError {
    fn from(err: ConfigError) -> MaqetError {
        MaqetError::Config(Box::new(err))
    }
}

impl From<maqet_state::StateError> for MaqetError {
    fn from(err: maqet_state::StateError) -> MaqetError {
        MaqetError::State(Box::new(err))
    }
}

impl From<maqet_storage::StorageError> for MaqetError {
    fn from(err: maqet_storage::StorageError) -> MaqetError {
        MaqetError::Storage(Box::new(err))
    }
}

impl From<maqet_runner::RunnerError> for MaqetError {
    fn from(err: maqet_runner::RunnerError) -> MaqetError {
        MaqetError::Runner(Box::new(err))
    }
}

impl From<maqet_qmp::QmpError> for MaqetError {
    fn from(err: maqet_qmp::QmpError) -> MaqetError {
        MaqetError::Qmp(Box::new(err))
    }
}
