//! `ErrorKind`: the broad class of a failure, which decides the exit code, and how the errors
//! of the layers below (state, storage, runner, the OS) map onto it.

use std::error::Error as StdError;

use crate::MaqetError;

/// Broad class of a failure; the CLI turns it into an exit code (see `docs/exit-codes.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Bad input: a config, an option value, a name (exit 3).
    InvalidInput,
    /// A VM, drive, snapshot or file that does not exist (exit 3).
    NotFound,
    /// A name that is already taken (exit 3).
    AlreadyExists,
    /// A wait ran out of time, or a lock stayed busy (exit 2).
    Timeout,
    /// The user cancelled (exit 2).
    Cancelled,
    /// The operating system refused access (exit 4).
    PermissionDenied,
    /// Anything else (exit 1).
    Failure,
}

impl ErrorKind {
    /// The process exit code for this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::InvalidInput | ErrorKind::NotFound | ErrorKind::AlreadyExists => 3,
            ErrorKind::Timeout | ErrorKind::Cancelled => 2,
            ErrorKind::PermissionDenied => 4,
            ErrorKind::Failure => 1,
        }
    }
}

/// Whether this user may not read and write the database file (or, when it does not exist yet,
/// create it in its directory).
fn access_denied(db: &std::path::Path) -> bool {
    use rustix::fs::{Access, access};
    use rustix::io::Errno;
    let denied = |r: rustix::io::Result<()>| matches!(r, Err(Errno::ACCESS | Errno::PERM));
    if db.exists() {
        return denied(access(db, Access::READ_OK | Access::WRITE_OK));
    }
    db.parent()
        .is_some_and(|dir| denied(access(dir, Access::WRITE_OK | Access::EXEC_OK)))
}

/// Whether an I/O "permission denied" is somewhere in the chain of causes.
pub(crate) fn caused_by_permission(err: &(dyn StdError + 'static)) -> bool {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::PermissionDenied
        {
            return true;
        }
        cause = e.source();
    }
    false
}

pub(crate) fn state_kind(err: &maqet_state::StateError) -> ErrorKind {
    use maqet_state::ErrorKind as K;
    // SQLite says only "unable to open database file"; ask the OS whether access is the reason.
    if let maqet_state::StateError::Open { path, .. } = err
        && access_denied(path)
    {
        return ErrorKind::PermissionDenied;
    }
    match err.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        K::Busy => ErrorKind::Timeout,
        _ => ErrorKind::Failure,
    }
}

pub(crate) fn storage_kind(err: &maqet_storage::StorageError) -> ErrorKind {
    use maqet_storage::ErrorKind as K;
    match err.kind() {
        K::InvalidInput | K::Unsupported => ErrorKind::InvalidInput,
        K::NotFound => ErrorKind::NotFound,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        K::Busy => ErrorKind::Timeout,
        _ => ErrorKind::Failure,
    }
}

pub(crate) fn runner_kind(err: &maqet_runner::RunnerError) -> ErrorKind {
    use maqet_runner::ErrorKind as K;
    match err.kind() {
        K::Timeout => ErrorKind::Timeout,
        K::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Failure,
    }
}

impl MaqetError {
    /// The class a variant has of its own (before [`crate::MaqetError::kind`] looks at the
    /// causes): each variant names its kind here, once.
    pub(crate) fn own_kind(&self) -> ErrorKind {
        match self {
            MaqetError::Config(e) => crate::error_parts::config_error_kind(e),
            MaqetError::State(e) => state_kind(e),
            MaqetError::Storage(e) => storage_kind(e),
            MaqetError::Runner(e) => runner_kind(e),
            MaqetError::Qmp(e) => match e.as_ref() {
                maqet_qmp::QmpError::Timeout { .. }
                | maqet_qmp::QmpError::HandshakeTimeout { .. } => ErrorKind::Timeout,
                maqet_qmp::QmpError::Untypeable(_) => ErrorKind::InvalidInput,
                _ => ErrorKind::Failure,
            },
            MaqetError::Snapshot(e) => e.kind(),
            MaqetError::SavedState(e) => e.kind(),
            MaqetError::Firmware(e) => e.kind(),
            MaqetError::VmNotFound(_)
            | MaqetError::UnknownCommand { .. }
            | MaqetError::SettingsMissing { .. }
            | MaqetError::ImageMissing { .. } => ErrorKind::NotFound,
            MaqetError::Declined { .. } => ErrorKind::Cancelled,
            MaqetError::UntrustedSettings { .. } => ErrorKind::PermissionDenied,
            MaqetError::HostKeysUnknown { .. }
            | MaqetError::GuestOutputCut { .. }
            | MaqetError::CopyChannelUnusable { .. } => ErrorKind::Failure,
            MaqetError::NoCopyChannel { .. } => ErrorKind::InvalidInput,
            MaqetError::GuestHelperTimedOut { .. } => ErrorKind::Timeout,
            MaqetError::AlreadyRunning { .. }
            | MaqetError::OrphanRunning { .. }
            | MaqetError::NameTaken { .. }
            | MaqetError::NameIsAnId { .. }
            | MaqetError::PortForwarded { .. }
            | MaqetError::DestinationExists { .. } => ErrorKind::AlreadyExists,
            MaqetError::NotRunning { .. }
            | MaqetError::PortTaken { .. }
            | MaqetError::PortLost { .. }
            | MaqetError::Argument(_)
            | MaqetError::NeedsConfirmation { .. }
            | MaqetError::SocketPathTooLong { .. }
            | MaqetError::IsRunning { .. } => ErrorKind::InvalidInput,
            MaqetError::UntrustedBinary { .. } => ErrorKind::PermissionDenied,
            MaqetError::Locked { .. }
            | MaqetError::WaitTimedOut { .. }
            | MaqetError::GuestCommandTimedOut { .. } => ErrorKind::Timeout,
            MaqetError::Plugin(e) => e.kind,
            MaqetError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                _ => ErrorKind::Failure,
            },
            MaqetError::InvalidInput { .. } => ErrorKind::InvalidInput,
            MaqetError::NotFound { .. } => ErrorKind::NotFound,
            MaqetError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            MaqetError::Timeout { .. } => ErrorKind::Timeout,
            MaqetError::Cancelled { .. } => ErrorKind::Cancelled,
            MaqetError::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            MaqetError::Failed { .. } => ErrorKind::Failure,
        }
    }
}
