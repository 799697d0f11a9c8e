//! Stopping a VM: ask nicely, then insist, never touching a process that is not the VM's QEMU.

use std::path::{Path, PathBuf};
use std::time::Duration;

use maqet_qmp::{QmpClient, QmpError};
use maqet_state::ProcessIdentity;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::RunnerError;
use crate::layout::QEMU_QMP_SOCKET_NAME;
use crate::process::{StopSignal, is_alive, is_runner, is_vm_qemu, send_signal};
use crate::qmp_gate::ALLOW_DANGEROUS_CAPABILITY;

/// How long `quit` and `SIGTERM` each get before the next step.
const STEP_WAIT: Duration = Duration::from_secs(2);
/// The same, with `--force`.
const FORCE_STEP_WAIT: Duration = Duration::from_secs(1);
/// How long QEMU gets to vanish after `SIGKILL`.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How long the runner gets to record the stop and exit once QEMU is gone.
const RUNNER_EXIT_WAIT: Duration = Duration::from_secs(5);
/// Limit for one QMP exchange during a stop.
const QMP_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the processes are checked while waiting.
pub(crate) const POLL: Duration = Duration::from_millis(50);
/// How often the ACPI power button is pressed again while the guest ignores it.
pub const PRESS_INTERVAL: Duration = Duration::from_secs(5);

/// How to stop a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopOptions {
    /// Skip the ACPI power-down and go straight to `quit`, `SIGTERM`, `SIGKILL`.
    pub force: bool,
    /// How long the guest gets to power down before maqet insists.
    pub timeout: Duration,
    /// How often the power button is pressed again within `timeout` ([`PRESS_INTERVAL`]).
    pub press_interval: Duration,
    /// The runner's guest agent socket (`agent.sock`) of a VM with `guest_agent: true`: when
    /// the agent answers, it is asked to power off (`guest-shutdown`) before `quit`.
    pub agent_socket: Option<PathBuf>,
}

impl Default for StopOptions {
    fn default() -> Self {
        Self {
            force: false,
            timeout: Duration::from_secs(30),
            press_interval: PRESS_INTERVAL,
            agent_socket: None,
        }
    }
}

/// The step that ended QEMU. In JSON: `already-stopped`, `acpi`, `agent`, `quit`, `sigterm`,
/// `sigkill`, `saved` (the names before issue N, `powerdown`, `terminate`, `kill`, are read too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopMethod {
    /// QEMU was not running.
    AlreadyStopped,
    /// The guest powered off after the ACPI power button.
    #[serde(rename = "acpi", alias = "powerdown")]
    Powerdown,
    /// The guest powered off after the guest agent's `guest-shutdown`.
    Agent,
    /// QEMU quit on the QMP `quit` command.
    Quit,
    /// QEMU exited on `SIGTERM`.
    #[serde(rename = "sigterm", alias = "terminate")]
    Terminate,
    /// QEMU was killed with `SIGKILL`.
    #[serde(rename = "sigkill", alias = "kill")]
    Kill,
    /// The guest's state was saved to a file (`maqet stop --save`), then QEMU quit.
    Saved,
}

impl StopMethod {
    /// Whether maqet ended QEMU itself (`quit`, SIGTERM, SIGKILL) instead of the guest
    /// powering off when asked.
    pub const fn forced(self) -> bool {
        matches!(self, Self::Quit | Self::Terminate | Self::Kill)
    }
}

impl std::fmt::Display for StopMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AlreadyStopped => "was not running",
            Self::Powerdown => "guest powered off (ACPI)",
            Self::Agent => "guest powered off (guest agent)",
            Self::Quit => "QEMU quit (QMP quit)",
            Self::Terminate => "QEMU terminated (SIGTERM)",
            Self::Kill => "QEMU killed (SIGKILL)",
            Self::Saved => "state saved",
        })
    }
}

/// How a stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopOutcome {
    /// The step that ended QEMU.
    pub method: StopMethod,
    /// How long the whole stop took.
    pub elapsed: Duration,
}

/// Stops the VM's QEMU and waits until it is gone (and its runner has recorded it).
///
/// Graceful: QMP `system_powerdown` through `qmp_socket`, pressed again every
/// `opts.press_interval`, and the guest agent's `guest-shutdown` when `opts.agent_socket` is set
/// and the agent answers, up to `opts.timeout` for the guest to power off; then `quit` (~2 s),
/// `SIGTERM` (2 s), `SIGKILL`. With `opts.force` it starts at `quit` with shorter waits. A signal is only sent after pinning the process with a pidfd and
/// checking its start time, so a PID that now belongs to another process is never signalled.
/// When the runner is gone, QMP goes to QEMU's own socket next to `qmp_socket`, and signals
/// still work. `on_wait` gets a short status text while waiting.
///
/// If `runner` is alive, this returns after it exited, so the state database already says
/// why QEMU stopped; without a live runner the caller records the stop itself.
///
/// Async (tokio, any flavour with time and I/O enabled): QMP goes through [`QmpClient`] and the
/// guest agent through [`crate::agent_client::AgentClient`]. A blocking caller drives it with
/// its own runtime's `block_on`.
pub async fn stop(
    qmp_socket: &Path,
    qemu: &ProcessIdentity,
    runner: Option<&ProcessIdentity>,
    opts: &StopOptions,
    on_wait: &mut dyn FnMut(&str),
) -> Result<StopOutcome, RunnerError> {
    let started = Instant::now();
    let qemu_socket = qmp_socket
        .parent()
        .map(|dir| dir.join(QEMU_QMP_SOCKET_NAME))
        .unwrap_or_default();
    if !is_vm_qemu(qemu, &qemu_socket) {
        // Gone, or the PID now belongs to some other program: nothing of ours to stop.
        return Ok(StopOutcome {
            method: StopMethod::AlreadyStopped,
            elapsed: started.elapsed(),
        });
    }
    let runner = runner.filter(|r| is_runner(r));
    let sockets = qmp_sockets(qmp_socket, runner.is_some());
    let step_wait = if opts.force {
        FORCE_STEP_WAIT
    } else {
        STEP_WAIT
    };
    let steps = [
        (StopMethod::Quit, step_wait),
        (StopMethod::Terminate, step_wait),
        (StopMethod::Kill, KILL_WAIT),
    ];

    mark_stop_requested(qmp_socket);
    let mut method = StopMethod::AlreadyStopped;
    if !opts.force && is_alive(qemu) {
        let runner_agent = opts.agent_socket.as_ref().filter(|_| runner.is_some());
        let graceful = StopOptions {
            agent_socket: runner_agent.cloned(),
            ..opts.clone()
        };
        if let Some(how) = crate::stop_graceful::power_off(&sockets, qemu, &graceful, on_wait).await
        {
            method = how;
        }
    }
    for (step, wait) in steps {
        if !is_alive(qemu) {
            break;
        }
        let sent = match step {
            StopMethod::Quit => qmp_to_any(&sockets, "quit").await.is_ok(),
            StopMethod::Terminate => signal(qemu, StopSignal::Terminate)?,
            StopMethod::Kill => signal(qemu, StopSignal::Kill)?,
            _ => false,
        };
        if !sent {
            continue;
        }
        method = step;
        if wait_until_gone(qemu, wait, step, on_wait).await {
            break;
        }
    }
    if is_alive(qemu) {
        return Err(RunnerError::Timeout {
            what: format!("QEMU (pid {}) to exit after SIGKILL", qemu.pid),
            after: KILL_WAIT,
        });
    }
    if let Some(runner) = runner {
        on_wait("waiting for the runner to record the stop");
        let deadline = Instant::now() + RUNNER_EXIT_WAIT;
        while is_alive(runner) && Instant::now() < deadline {
            crate::exit_wait::gone_within(runner, POLL).await;
        }
    }
    if runner.is_none_or(|r| !is_alive(r))
        && let Some(dir) = qmp_socket.parent()
    {
        // No runner is left to read it; a later crash must not look like this stop.
        let _ = std::fs::remove_file(dir.join(crate::layout::STOP_MARKER_NAME));
    }
    Ok(StopOutcome {
        method,
        elapsed: started.elapsed(),
    })
}

/// The multiplexer socket, plus QEMU's own socket when no runner holds it.
fn qmp_sockets(qmp_socket: &Path, runner_alive: bool) -> Vec<PathBuf> {
    let mut sockets = vec![qmp_socket.to_owned()];
    if !runner_alive && let Some(dir) = qmp_socket.parent() {
        sockets.push(dir.join(QEMU_QMP_SOCKET_NAME));
    }
    sockets
}

/// Sends a QMP command through the first socket that answers; on failure, says why (for
/// every socket tried).
pub(crate) async fn qmp_to_any(sockets: &[PathBuf], command: &str) -> Result<(), String> {
    let mut why = Vec::new();
    for socket in sockets {
        match qmp_command(socket, command).await {
            Ok(()) => return Ok(()),
            Err(QmpError::Command { class, desc, .. }) => {
                tracing::debug!(%class, %desc, command, "QEMU refused a stop command");
                why.push(format!("QEMU refused `{command}` ({desc})"));
            }
            Err(err) => {
                // The OS's word for a socket nobody serves, as before; otherwise the whole chain.
                let err = match &err {
                    QmpError::Connect { source, .. } => source.to_string(),
                    other => maqet_error_chain::error_chain(other),
                };
                tracing::debug!(error = %err, socket = %socket.display(), "QMP socket did not answer");
                why.push(format!(
                    "QMP socket {} did not answer ({err})",
                    socket.display()
                ));
            }
        }
    }
    Err(why.join("; "))
}

/// Connects (asking for the runner's gate to let maqet's own `quit` through; QEMU itself
/// refuses that capability and is negotiated with plainly) and runs one command without
/// arguments, all within [`QMP_TIMEOUT`] each. For `quit`, the connection closing before the
/// reply counts as success.
async fn qmp_command(socket: &Path, command: &str) -> Result<(), QmpError> {
    let qmp =
        QmpClient::connect_with_capabilities(socket, QMP_TIMEOUT, &[ALLOW_DANGEROUS_CAPABILITY])
            .await?;
    match command {
        "quit" => tokio::time::timeout(QMP_TIMEOUT, qmp.quit())
            .await
            .map_err(|_| QmpError::Timeout {
                command: command.to_owned(),
                after: QMP_TIMEOUT,
            })?,
        _ => qmp
            .execute_with_timeout(command, None, QMP_TIMEOUT)
            .await
            .map(drop),
    }
}

/// Leaves the marker that tells the VM's runner this stop is maqet's (see
/// [`crate::layout::VmPaths::stop_marker`]). The runtime dir is the VM's own (0700).
fn mark_stop_requested(qmp_socket: &Path) {
    let Some(dir) = qmp_socket.parent() else {
        return;
    };
    let marker = dir.join(crate::layout::STOP_MARKER_NAME);
    if let Err(err) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&marker)
    {
        tracing::debug!(error = %err, marker = %marker.display(), "cannot leave the stop marker");
    }
}

fn signal(qemu: &ProcessIdentity, signal: StopSignal) -> Result<bool, RunnerError> {
    send_signal(qemu, signal)
        .map_err(|source| RunnerError::io(format!("signal QEMU (pid {})", qemu.pid), source))
}

async fn wait_until_gone(
    qemu: &ProcessIdentity,
    wait: Duration,
    step: StopMethod,
    on_wait: &mut dyn FnMut(&str),
) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if !is_alive(qemu) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let what = match step {
            StopMethod::Quit => "waiting for QEMU to quit",
            StopMethod::Terminate => "waiting for QEMU to exit after SIGTERM",
            _ => "waiting for QEMU to exit",
        };
        on_wait(&format!("{what} ({}s left)", left.as_secs() + 1));
        crate::exit_wait::gone_within(qemu, POLL.min(left)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_methods_are_named_as_documented_and_old_names_still_read() {
        let names = [
            (StopMethod::AlreadyStopped, "already-stopped"),
            (StopMethod::Powerdown, "acpi"),
            (StopMethod::Agent, "agent"),
            (StopMethod::Quit, "quit"),
            (StopMethod::Terminate, "sigterm"),
            (StopMethod::Kill, "sigkill"),
        ];
        for (method, name) in names {
            assert_eq!(serde_json::to_value(method).unwrap(), name);
            assert_eq!(
                method.forced(),
                matches!(name, "quit" | "sigterm" | "sigkill")
            );
        }
        for (old, method) in [
            ("powerdown", StopMethod::Powerdown),
            ("terminate", StopMethod::Terminate),
            ("kill", StopMethod::Kill),
        ] {
            let read: StopMethod = serde_json::from_value(old.into()).unwrap();
            assert_eq!(read, method);
        }
    }

    #[test]
    fn qemu_socket_is_tried_only_without_a_runner() {
        let mux = Path::new("/run/vms/x/qmp.sock");
        assert_eq!(qmp_sockets(mux, true), vec![mux.to_owned()]);
        assert_eq!(
            qmp_sockets(mux, false),
            vec![mux.to_owned(), PathBuf::from("/run/vms/x/qemu-qmp.sock")]
        );
    }
}
