//! The crate's error type.

use std::path::PathBuf;
use std::time::Duration;

use crate::keys::UntypeableChar;
use crate::wire::WireError;

/// Everything that can go wrong talking QMP.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The Unix socket could not be connected.
    #[error(
        "cannot connect to the QMP socket {path}; check that QEMU (or the maqet runner) is running and listening there"
    )]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error(
        "reading from the QMP socket failed; the connection is probably gone, reconnect to continue"
    )]
    Io(#[source] std::io::Error),
    /// The connection ended (QEMU quit or crashed, or the socket was closed).
    #[error(
        "the QMP connection is closed (QEMU exited or the socket was closed); reconnect to continue"
    )]
    Closed,
    /// The greeting and `qmp_capabilities` exchange did not finish in time.
    #[error(
        "the QMP handshake did not finish within {after:?}; QEMU serves one QMP client per socket, so check that no other client is connected"
    )]
    HandshakeTimeout {
        /// How long we waited.
        after: Duration,
    },
    /// A command got no reply in time.
    #[error(
        "QMP command `{command}` got no reply within {after:?}; QEMU may be busy or hung, retry with a longer timeout"
    )]
    Timeout {
        /// The command name.
        command: String,
        /// How long we waited.
        after: Duration,
    },
    /// The peer sent something that is not QMP where it mattered (e.g. instead of the greeting).
    #[error(
        "the QMP peer sent malformed data; check that the path is a QMP socket of a supported QEMU"
    )]
    Protocol(#[source] WireError),
    /// QEMU answered the command with an error.
    #[error("QEMU refused `{command}`: {desc} ({class})")]
    Command {
        /// QEMU's error class, e.g. `"GenericError"`, `"CommandNotFound"`, `"DeviceNotFound"`.
        class: String,
        /// QEMU's description.
        desc: String,
        /// The command that was refused.
        command: String,
    },
    /// QEMU's reply did not have the shape this crate expects for that command.
    #[error(
        "QEMU's reply to `{command}` does not have the expected shape; this QEMU version may not be supported"
    )]
    UnexpectedReply {
        /// The command.
        command: String,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A path passed to QEMU is not valid UTF-8 (QMP is JSON, so paths must be text).
    #[error("the path {0:?} is not valid UTF-8 and cannot be sent over QMP; use a UTF-8 path")]
    NonUtf8Path(PathBuf),
    /// The current directory could not be read to make a relative path absolute.
    #[error("cannot make the path {path:?} absolute; pass an absolute path")]
    RelativePath {
        /// The relative path.
        path: PathBuf,
        /// Why the current directory could not be read.
        #[source]
        source: std::io::Error,
    },
    /// Text to type contains a character with no US-layout key.
    #[error("the text cannot be typed on a US keyboard layout; nothing was sent")]
    Untypeable(#[source] UntypeableChar),
    /// A background job is not in `query-jobs`.
    #[error("QEMU has no job `{job_id}`; it was never started or was already dismissed")]
    JobNotFound {
        /// The job id.
        job_id: String,
    },
    /// A background job concluded with an error.
    #[error("QEMU job `{job_id}` failed: {desc}")]
    JobFailed {
        /// The job id.
        job_id: String,
        /// QEMU's error text from `query-jobs`.
        desc: String,
    },
    /// A background job did not conclude in time.
    #[error(
        "QEMU job `{job_id}` did not finish within {after:?}; it may still be running (see `query-jobs`)"
    )]
    JobTimeout {
        /// The job id.
        job_id: String,
        /// How long we waited.
        after: Duration,
    },
}

impl QmpError {
    /// QEMU's error class when QEMU refused a command, e.g. `Some("CommandNotFound")`.
    pub fn class(&self) -> Option<&str> {
        match self {
            Self::Command { class, .. } => Some(class),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_error_names_command_desc_and_class() {
        let err = QmpError::Command {
            class: "DeviceNotFound".into(),
            desc: "Device 'x' not found".into(),
            command: "device_del".into(),
        };
        assert_eq!(
            err.to_string(),
            "QEMU refused `device_del`: Device 'x' not found (DeviceNotFound)"
        );
        assert_eq!(err.class(), Some("DeviceNotFound"));
    }
}
