//! `MaqetError` → the classes of `maqet.exceptions`, with the message chain the CLI prints.

use maqet_core::{ArgError, ErrorKind, MaqetError};
use pyo3::prelude::*;
use pyo3::types::PyModule;

/// Which method was called. It no longer decides anything: the class comes from the error's
/// variant alone (see [`class_name`]); it stays so callers need not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Any call.
    Plain,
}

/// The message and its causes, one `caused by:` line each, as `maqet` prints them.
pub fn message_chain(err: &MaqetError) -> String {
    maqet_error_chain::join_chain(err, "\n  caused by: ")
}

/// The name of the `maqet.exceptions` class for this error, from its variant and kind only
/// (`_context` is ignored; see [`class_of`]).
pub fn class_name(err: &MaqetError, _context: Context) -> &'static str {
    class_of(err)
}

/// The name of the `maqet.exceptions` class for this error: from its variant, then its kind.
pub fn class_of(err: &MaqetError) -> &'static str {
    match err {
        MaqetError::Config(_) => "ConfigError",
        MaqetError::Snapshot(_) => "SnapshotError",
        // `snapshot`'s own argument: the action.
        MaqetError::Argument(ArgError::InvalidChoice { command, .. }) if command == "snapshot" => {
            "SnapshotError"
        }
        MaqetError::VmNotFound(_) => "VMNotFoundError",
        MaqetError::AlreadyRunning { .. } | MaqetError::OrphanRunning { .. } => {
            "VMAlreadyRunningError"
        }
        _ if err.kind() == ErrorKind::Timeout => "TimeoutError",
        MaqetError::State(_) => "StateManagerError",
        MaqetError::Storage(_) => "StorageError",
        MaqetError::Runner(_) => "RunnerError",
        MaqetError::Qmp(_) => "QMPError",
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

/// Builds the Python exception: class from [`class_of`], `str(e)` the message chain, and the
/// attributes `exit_code` (what the CLI would exit with) and `kind`. `context` changes nothing.
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
