//! The guest agent as maqet calls it: one client of the VM's runner (the async
//! [`AgentClient`], driven by the handle's runtime), `guest-exec` waited for inside the runner
//! (one request per command), and the checks that keep a hostile agent's answers
//! (impossible exit codes, error texts with control characters) from reaching the user as
//! made-up results. The commands built on it are in [`super::guest`] and
//! [`super::guest_cp`].

use std::time::{Duration, Instant};

use maqet_qmp::qga::types::{ExecStatus, decode_base64};
use maqet_runner::agent_client::{AgentCallError, AgentClient, CLASS_TIMEOUT, ExecWaitError};
use serde_json::{Value, json};

use crate::text::escape_guest_text;
use crate::{ErrorKind, Maqet, MaqetError};

/// How long one status poll or small agent call may take at most.
pub(crate) const AGENT_CALL_LIMIT: Duration = Duration::from_secs(10);

/// A running VM's guest agent, reached through its runner.
pub(crate) struct GuestAgent {
    /// The VM's name, for messages.
    pub name: String,
    /// The connection to the runner's `agent.sock`.
    pub(super) client: AgentClient,
    /// The handle whose runtime drives the connection.
    pub(super) maqet: Maqet,
}

impl GuestAgent {
    /// Runs one agent command with `limit` for the agent's answer.
    pub fn call(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<Value, MaqetError> {
        self.maqet
            .block_on(self.client.call(command, arguments, limit))?
            .map_err(|e| agent_error(&self.name, command, e))
    }

    /// Like [`Self::call`], for a command that does not answer on success.
    pub fn call_no_reply(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<(), MaqetError> {
        self.maqet
            .block_on(self.client.call_no_reply(command, arguments, limit))?
            .map_err(|e| agent_error(&self.name, command, e))
    }

    /// Runs a command and reads its reply as `T`.
    pub fn call_as<T: serde::de::DeserializeOwned>(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<T, MaqetError> {
        let value = self.call(command, arguments, limit)?;
        serde_json::from_value(value).map_err(|e| {
            MaqetError::with_source(
                ErrorKind::Failure,
                format!(
                    "the guest agent of VM `{}` answered `{command}` in an unexpected shape",
                    self.name
                ),
                e,
            )
        })
    }
}

/// How a guest command ended.
pub(crate) enum Finished {
    /// It ended: by an exit code or a signal (both checked), with its captured output.
    Done(GuestExit, ExecStatus),
    /// The guest could not start the program; the status a shell would give (127: not found,
    /// 126: found but not runnable) and the agent's reason, escaped.
    NotStarted(i32, String),
    /// The deadline passed; it has this guest pid.
    TimedOut(i64),
}

/// How a guest command ended, after checking the agent's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuestExit {
    /// It exited with this code.
    Code(u8),
    /// This signal (1..=64) ended it.
    Signal(u8),
}

impl GuestExit {
    /// The status a shell shows: the code, or 128 + the signal.
    pub fn shell_status(self) -> i32 {
        match self {
            GuestExit::Code(code) => i32::from(code),
            GuestExit::Signal(signal) => 128 + i32::from(signal),
        }
    }
}

/// Checks a finished `guest-exec-status`: exactly one of an exit code in 0..=255 and a signal
/// in 1..=64. Anything else is the agent misbehaving, never a made-up status.
pub(crate) fn checked_exit(vm: &str, status: &ExecStatus) -> Result<GuestExit, MaqetError> {
    let exit = match (status.exitcode, status.signal) {
        (Some(code), None) => u8::try_from(code).ok().map(GuestExit::Code),
        (None, Some(signal)) => u8::try_from(signal)
            .ok()
            .filter(|s| (1..=64).contains(s))
            .map(GuestExit::Signal),
        _ => None,
    };
    exit.ok_or_else(|| {
        let shown = |v: Option<i32>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        MaqetError::new(
            ErrorKind::Failure,
            format!(
                "the guest agent of VM `{vm}` reported an impossible end for the command (exit code {}, signal {}); its agent is broken or the guest is not to be trusted",
                shown(status.exitcode),
                shown(status.signal)
            ),
        )
    })
}

/// The shell status for a `guest-exec` the agent refused because the program could not be
/// started (glib's "Failed to execute child process"): 127 when it does not exist, else 126.
fn spawn_failure_status(desc: &str) -> Option<i32> {
    if !desc.contains("Failed to execute child process") {
        return None;
    }
    Some(if desc.contains("No such file or directory") {
        127
    } else {
        126
    })
}

impl GuestAgent {
    /// Runs a `guest-exec` and waits (inside the runner, which polls its status) until it
    /// exits or `deadline` passes.
    pub fn run_and_wait(
        &mut self,
        arguments: Value,
        deadline: Instant,
    ) -> Result<Finished, MaqetError> {
        let waited = self
            .maqet
            .block_on(self.client.exec_and_wait(arguments, remaining(deadline)))?;
        finished(&self.name, waited)
    }
}

/// How a command ended, from the runner's `exec and wait` answer for VM `vm`.
pub(crate) fn finished(
    vm: &str,
    waited: Result<Value, ExecWaitError>,
) -> Result<Finished, MaqetError> {
    let value = match waited {
        Err(ExecWaitError {
            command,
            error: AgentCallError::Refused { desc, .. },
        }) if command == "guest-exec" && spawn_failure_status(&desc).is_some() => {
            let status = spawn_failure_status(&desc).unwrap_or(127);
            return Ok(Finished::NotStarted(status, escape_guest_text(&desc)));
        }
        Err(ExecWaitError { command, error }) => {
            return Err(agent_error(vm, &command, error));
        }
        Ok(value) => value,
    };
    let unexpected = |command: &str| {
        format!("the guest agent of VM `{vm}` answered `{command}` in an unexpected shape")
    };
    // The runner adds the pid of `guest-exec`'s answer to the last status.
    let Some(pid) = value.get("pid").and_then(Value::as_i64) else {
        return Err(MaqetError::new(
            ErrorKind::Failure,
            unexpected("guest-exec"),
        ));
    };
    let status: ExecStatus = serde_json::from_value(value).map_err(|e| {
        MaqetError::with_source(ErrorKind::Failure, unexpected("guest-exec-status"), e)
    })?;
    if status.exited {
        let exit = checked_exit(vm, &status)?;
        return Ok(Finished::Done(exit, status));
    }
    Ok(Finished::TimedOut(pid))
}

impl GuestAgent {
    /// Runs a short helper command in the guest (`test`, `mkdir`, `find`) and returns its
    /// exit status and stdout.
    pub fn run_helper(&mut self, path: &str, args: &[&str]) -> Result<(i32, Vec<u8>), MaqetError> {
        let arguments = json!({"path": path, "arg": args, "capture-output": true});
        match self.run_and_wait(arguments, Instant::now() + AGENT_CALL_LIMIT)? {
            Finished::Done(exit, status) => {
                if status.out_truncated == Some(true) {
                    return Err(MaqetError::GuestOutputCut {
                        vm: self.name.clone(),
                        program: path.to_string(),
                    });
                }
                let out = status
                    .out_data
                    .as_deref()
                    .and_then(|d| decode_base64(d).ok())
                    .unwrap_or_default();
                Ok((exit.shell_status(), out))
            }
            Finished::NotStarted(status, _) => Ok((status, Vec::new())),
            Finished::TimedOut(pid) => Err(MaqetError::GuestHelperTimedOut {
                vm: self.name.clone(),
                program: path.to_string(),
                pid,
                after: AGENT_CALL_LIMIT,
            }),
        }
    }
}

/// Turns a failed agent call into the documented error kinds: no answer → timeout (exit 2),
/// a disabled or unknown command → permission denied (exit 4), anything else → failure.
pub(crate) fn agent_error(vm: &str, command: &str, err: AgentCallError) -> MaqetError {
    let (kind, message) = match &err {
        AgentCallError::Refused { class, .. } if class == CLASS_TIMEOUT => (
            ErrorKind::Timeout,
            format!(
                "the guest agent of VM `{vm}` did not answer `{command}`; check that qemu-ga runs in the guest (`maqet wait {vm} --agent` waits until it does)"
            ),
        ),
        AgentCallError::Refused { class, .. } if class == "CommandNotFound" => (
            ErrorKind::PermissionDenied,
            format!(
                "the guest agent of VM `{vm}` does not allow `{command}` (disabled in qemu-ga, or too old); `maqet guest info {vm}` lists what it allows"
            ),
        ),
        _ => (
            ErrorKind::Failure,
            format!("the guest agent of VM `{vm}` could not run `{command}`"),
        ),
    };
    // The description comes from the guest: it is shown with its control characters escaped.
    let err = match err {
        AgentCallError::Refused { class, desc } => AgentCallError::Refused {
            class: escape_guest_text(&class),
            desc: escape_guest_text(&desc),
        },
        other => other,
    };
    MaqetError::with_source(kind, message, err)
}

/// Time left until `deadline`, never below a few milliseconds (so a call can still be answered).
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(50))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit_of(reply: Value) -> Result<GuestExit, MaqetError> {
        let status: ExecStatus = serde_json::from_value(reply).unwrap();
        checked_exit("vm", &status)
    }

    #[test]
    fn crafted_exec_status_replies_never_become_made_up_exit_codes() {
        assert_eq!(
            exit_of(json!({"exited": true, "exitcode": 7})).unwrap(),
            GuestExit::Code(7)
        );
        assert_eq!(
            exit_of(json!({"exited": true, "signal": 9}))
                .unwrap()
                .shell_status(),
            137
        );
        for reply in [
            json!({"exited": true, "exitcode": 256}),
            json!({"exited": true, "exitcode": -1}),
            json!({"exited": true, "exitcode": 2_147_483_647}),
            json!({"exited": true, "signal": 0}),
            json!({"exited": true, "signal": 65}),
            json!({"exited": true, "signal": 2_147_483_647}),
            json!({"exited": true, "signal": -2_147_483_648}),
            json!({"exited": true}),
            json!({"exited": true, "exitcode": 0, "signal": 9}),
        ] {
            let err = exit_of(reply.clone()).unwrap_err();
            assert!(err.to_string().contains("impossible"), "{reply}: {err}");
        }
        // Out of i32 range: the reply does not even decode.
        assert!(
            serde_json::from_value::<ExecStatus>(
                json!({"exited": true, "exitcode": 4_294_967_296_u64})
            )
            .is_err()
        );
    }

    #[test]
    fn a_program_the_guest_cannot_start_maps_to_the_shell_codes() {
        let missing = "Guest agent command failed, error was 'Failed to execute child process \u{201c}/no/such\u{201d} (No such file or directory)'";
        assert_eq!(spawn_failure_status(missing), Some(127));
        assert_eq!(
            spawn_failure_status("Failed to execute child process \"/etc\" (Permission denied)"),
            Some(126)
        );
        assert_eq!(spawn_failure_status("Guest agent command failed"), None);
    }

    #[test]
    fn agent_error_descriptions_are_escaped() {
        let err = agent_error(
            "vm",
            "guest-file-open",
            AgentCallError::Refused {
                class: "GenericError".into(),
                desc: "no\nerror: forged line\x1b[31m".into(),
            },
        );
        let chain = format!(
            "{:?}",
            std::error::Error::source(&err).map(ToString::to_string)
        );
        assert!(
            chain.contains("no\\\\nerror: forged line\\\\u{1b}[31m"),
            "{chain}"
        );
    }
}
