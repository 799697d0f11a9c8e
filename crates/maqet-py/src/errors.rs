//! `MaqetError` → the classes of `maqet.exceptions`, with the message chain the CLI prints.

use maqet_core::{ErrorKind, MaqetError};
use pyo3::prelude::*;
use pyo3::types::PyModule;

/// Extra knowledge about the call that failed, for a more specific class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Any call.
    Plain,
    /// `start`: a name already taken means the VM already runs.
    Start,
    /// `snapshot`: its own checks (drive, name) are snapshot errors.
    Snapshot,
}

/// The message and its causes, one `caused by:` line each, as `maqet` prints them.
pub fn message_chain(err: &MaqetError) -> String {
    maqet_error_chain::join_chain(err, "\n  caused by: ")
}

/// The name of the `maqet.exceptions` class for this error.
pub fn class_name(err: &MaqetError, context: Context) -> &'static str {
    let kind = err.kind();
    match err {
        MaqetError::Config(_) => "ConfigError",
        MaqetError::Snapshot { .. } => "SnapshotError",
        MaqetError::VmNotFound(_) => "VMNotFoundError",
        _ if kind == ErrorKind::Timeout => "TimeoutError",
        MaqetError::State(_) => "StateManagerError",
        MaqetError::Storage(_) => "StorageError",
        MaqetError::Runner(_) => "RunnerError",
        MaqetError::Qmp(_) => "QMPError",
        MaqetError::AlreadyExists { .. } if context == Context::Start => "VMAlreadyRunningError",
        // The snapshot command's own checks (the drive, the name, the options).
        MaqetError::Io { .. }
        | MaqetError::InvalidInput { .. }
        | MaqetError::NotFound { .. }
        | MaqetError::AlreadyExists { .. }
        | MaqetError::Timeout { .. }
        | MaqetError::Cancelled { .. }
        | MaqetError::PermissionDenied { .. }
            if context == Context::Snapshot =>
        {
            "SnapshotError"
        }
        _ => "MaqetError",
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidInput => "invalid-input",
        ErrorKind::NotFound => "not-found",
        ErrorKind::AlreadyExists => "already-exists",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Cancelled => "cancelled",
        ErrorKind::PermissionDenied => "permission-denied",
        ErrorKind::Failure => "failure",
    }
}

/// Builds the Python exception: class from [`class_name`], `str(e)` the message chain, and the
/// attributes `exit_code` (what the CLI would exit with) and `kind`.
pub fn to_py(py: Python<'_>, err: &MaqetError, context: Context) -> PyErr {
    raise(
        py,
        class_name(err, context),
        &message_chain(err),
        err.kind(),
    )
}

/// Builds an exception of a `maqet.exceptions` class by name.
pub fn raise(py: Python<'_>, class: &str, message: &str, kind: ErrorKind) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = PyModule::import(py, "maqet.exceptions")?;
        let instance = module.getattr(class)?.call1((message,))?;
        instance.setattr("exit_code", kind.exit_code())?;
        instance.setattr("kind", kind_name(kind))?;
        Ok(PyErr::from_value(instance))
    };
    build().unwrap_or_else(|e| e)
}
