//! The crate's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Coarse classes of [`RunnerError`], for exit codes and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// QEMU refused to start (bad option, missing file, ...); its own message is the source.
    QemuRefused,
    /// The `maqet-runner` executable was not found.
    RunnerMissing,
    /// Something did not happen in time.
    Timeout,
    /// The OS refused access (a socket, a directory, a signal).
    PermissionDenied,
    /// A file-system or process error.
    Io,
    /// Anything else the runner reported.
    Failure,
}

/// Everything that can go wrong starting, adopting or stopping a VM's runner.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// No `maqet-runner` executable in any of the places looked at.
    #[error(
        "cannot find the maqet-runner executable (looked at: {}); install it next to maqet, put it on PATH, or set MAQET_RUNNER to its path",
        display_paths(tried)
    )]
    RunnerMissing {
        /// Every candidate path that was tried, in order.
        tried: Vec<PathBuf>,
    },
    /// The runner executable could not be started.
    #[error("cannot start the runner {exe}; check that it is an executable maqet-runner")]
    Spawn {
        /// The runner executable.
        exe: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// QEMU exited while starting; QEMU's own output is the source.
    #[error("QEMU for VM `{vm}` refused to start ({status}); fix the VM's configuration and retry")]
    QemuRefused {
        /// The VM's name.
        vm: String,
        /// How QEMU ended, e.g. "exit status 1".
        status: String,
        /// What QEMU printed.
        #[source]
        source: RemoteText,
    },
    /// The QEMU to adopt is gone or is not this VM's QEMU.
    #[error("cannot re-adopt the QEMU of VM `{vm}`; the VM has to be started again")]
    NotAdoptable {
        /// The VM's name.
        vm: String,
        /// The runner's explanation.
        #[source]
        source: RemoteText,
    },
    /// The runner reported a failure of its own (database, file system, ...).
    #[error("the runner of VM `{vm}` failed to start it; see {log} for details")]
    RunnerFailed {
        /// The VM's name.
        vm: String,
        /// The runner's log file.
        log: PathBuf,
        /// The runner's explanation.
        #[source]
        source: RemoteText,
    },
    /// The runner exited without saying why.
    #[error(
        "the runner of VM `{vm}` exited before the VM was ready; see {log} (its last lines follow)"
    )]
    RunnerDied {
        /// The VM's name.
        vm: String,
        /// The runner's log file.
        log: PathBuf,
        /// The end of the runner's log.
        #[source]
        source: RemoteText,
    },
    /// Waiting for something took longer than allowed.
    #[error("timed out after {after:?} waiting for {what}; retry with a longer timeout")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// The OS refused an operation.
    #[error("permission denied: cannot {action}; check that you own the VM")]
    Permission {
        /// What was attempted.
        action: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file-system or process operation failed.
    #[error("cannot {action}")]
    Io {
        /// What was attempted.
        action: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl RunnerError {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::QemuRefused { .. } => ErrorKind::QemuRefused,
            Self::RunnerMissing { .. } => ErrorKind::RunnerMissing,
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::Permission { .. } => ErrorKind::PermissionDenied,
            Self::Spawn { .. } | Self::Io { .. } => ErrorKind::Io,
            Self::NotAdoptable { .. } | Self::RunnerFailed { .. } | Self::RunnerDied { .. } => {
                ErrorKind::Failure
            }
        }
    }

    /// Whether this is a timeout (the CLI exits with status 2 then).
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// An I/O error, classified as [`RunnerError::Permission`] when the OS said so.
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        let action = action.into();
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            Self::Permission { action, source }
        } else {
            Self::Io { action, source }
        }
    }
}

/// Text that came from another process (QEMU's stderr, the runner's log), kept as an error source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteText(pub String);

impl std::fmt::Display for RemoteText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.trim_end())
    }
}

impl std::error::Error for RemoteText {}

fn display_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    if shown.is_empty() {
        "nothing".to_owned()
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_refusal_keeps_qemu_text_out_of_its_own_message() {
        let err = RunnerError::QemuRefused {
            vm: "web".into(),
            status: "exit status 1".into(),
            source: RemoteText(
                "qemu-system-x86_64: -m banana: Parameter 'size' expects a size\n".into(),
            ),
        };
        let top = err.to_string();
        assert!(!top.contains("banana"), "{top}");
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert!(source.is_some_and(|s| s.ends_with("expects a size")));
        assert_eq!(err.kind(), ErrorKind::QemuRefused);
    }

    #[test]
    fn permission_denied_io_becomes_permission() {
        let err = RunnerError::io(
            "open x",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert!(
            RunnerError::Timeout {
                what: "x".into(),
                after: Duration::from_secs(1)
            }
            .is_timeout()
        );
    }
}
