//! What the starter hands to a runner, and what a runner reports back.

use std::path::PathBuf;

use maqet_state::ProcessIdentity;
use serde::{Deserialize, Serialize};

use crate::layout::VmPaths;

/// Everything a runner needs to launch one VM's QEMU and supervise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// The VM's id in the state database.
    pub vm_id: String,
    /// The VM's name (for logs and messages).
    pub vm_name: String,
    /// The state database file the runner records the VM's status in.
    pub db_path: PathBuf,
    /// The VM's runtime and data paths.
    pub paths: VmPaths,
    /// QEMU's full argv, binary first, with [`VmPaths::control_args`] already included.
    pub qemu_argv: Vec<String>,
    /// Start the VM's swtpm ([`crate::swtpm`]) before QEMU (`tpm: true`; the argv has
    /// [`crate::swtpm::qemu_args`]).
    #[serde(default)]
    pub swtpm: bool,
}

/// Everything a runner needs to take over a QEMU whose runner is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptSpec {
    /// The VM's id in the state database.
    pub vm_id: String,
    /// The VM's name (for logs and messages).
    pub vm_name: String,
    /// The state database file.
    pub db_path: PathBuf,
    /// The VM's runtime and data paths.
    pub paths: VmPaths,
    /// The running QEMU to adopt; refused unless PID, start time and command line match.
    pub qemu: ProcessIdentity,
}

/// A runner that is up and whose QEMU answers QMP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// The runner process.
    pub runner: ProcessIdentity,
    /// The QEMU process.
    pub qemu: ProcessIdentity,
    /// The runner's QMP multiplexer socket, for any number of clients.
    pub qmp_socket: PathBuf,
}

/// The lines a runner writes on its ready pipe (its stdout), one JSON object per line.
///
/// First [`ReadyLine::Runner`] right after the runner detached (so a starter that gives up can
/// stop it), then exactly one of [`ReadyLine::Ready`] or [`ReadyLine::Failed`].
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum ReadyLine {
    /// The detached runner's identity.
    Runner {
        /// The runner process.
        runner: ProcessIdentity,
    },
    /// QEMU answers QMP and the multiplexer socket is served.
    Ready(Started),
    /// Start-up failed; the runner exits.
    Failed(StartFailure),
}

/// Why a runner could not get its VM going.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// A sentence for humans.
    pub message: String,
    /// Supporting text: QEMU's own output, or the underlying error chain.
    pub detail: String,
}

/// The kinds of start-up failure a runner reports.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// QEMU exited during start-up.
    QemuExited,
    /// QEMU did not open its QMP socket in time.
    QmpTimeout,
    /// The process to adopt is not this VM's QEMU, or is gone.
    NotAdoptable,
    /// Anything else (bad spec, database, file system).
    Other,
}

impl ReadyLine {
    /// The line as written on the pipe, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        line.push('\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_lines_round_trip_as_single_lines() {
        let lines = [
            ReadyLine::Runner {
                runner: ProcessIdentity {
                    pid: 1,
                    start_time: 2,
                },
            },
            ReadyLine::Failed(StartFailure {
                kind: FailureKind::QemuExited,
                message: "QEMU exited with status 1".into(),
                detail: "qemu: -m banana: bad\nsecond line".into(),
            }),
        ];
        for line in lines {
            let text = line.to_line();
            assert_eq!(text.matches('\n').count(), 1, "{text}");
            let back: ReadyLine = serde_json::from_str(&text).unwrap();
            assert_eq!(back, line);
        }
    }
}
