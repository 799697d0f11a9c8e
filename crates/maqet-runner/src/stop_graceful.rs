//! The graceful part of a stop: ask the guest to power off, again and again, until it does or
//! the time runs out.
//!
//! One ACPI press is easily lost: a guest whose power-button handler (logind, acpid) is not
//! listening yet ignores it, and the stop then ends in QMP `quit` after the whole timeout.
//! So the button is pressed again every [`StopOptions::press_interval`], and when the VM's
//! guest agent answers a ping, it is asked to power off (`guest-shutdown`, mode `powerdown`),
//! which works without ACPI.

use std::path::PathBuf;
use std::time::Duration;

use maqet_state::ProcessIdentity;
use serde_json::json;
use tokio::time::Instant;

use crate::agent_client::AgentClient;
use crate::process::is_alive;
use crate::stop::{POLL, StopMethod, StopOptions, qmp_to_any};

/// How long the guest agent gets to answer the ping that precedes `guest-shutdown`.
const AGENT_PING_LIMIT: Duration = Duration::from_secs(1);
/// How long the runner waits for the agent to take `guest-shutdown`.
const AGENT_SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);

/// Asks the guest to power off until QEMU is gone or `opts.timeout` ran out: the ACPI power
/// button at once and every `opts.press_interval`, and the guest agent (when `opts.agent_socket`
/// is set and the agent answers) from the first repeat on, or at once when QMP cannot press the
/// button. Returns how the guest was asked when QEMU exited, `None` when it still runs (or could
/// not be asked at all).
pub(crate) async fn power_off(
    sockets: &[PathBuf],
    qemu: &ProcessIdentity,
    opts: &StopOptions,
    on_wait: &mut dyn FnMut(&str),
) -> Option<StopMethod> {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let interval = opts.press_interval.max(POLL);
    let mut asked = None;
    let mut presses = 0u32;
    let mut next_ask = started;
    loop {
        if !is_alive(qemu) {
            return Some(asked.unwrap_or(StopMethod::Powerdown));
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if now >= next_ask && asked != Some(StopMethod::Agent) {
            if presses > 0 && ask_agent(opts.agent_socket.as_ref()).await {
                asked = Some(StopMethod::Agent);
            } else {
                match qmp_to_any(sockets, "system_powerdown").await {
                    Ok(()) => {
                        presses += 1;
                        asked.get_or_insert(StopMethod::Powerdown);
                        if presses > 1 {
                            tracing::info!(
                                "the guest has not powered off yet; pressing the ACPI power button again ({presses})"
                            );
                        }
                    }
                    Err(why) if presses == 0 => {
                        if ask_agent(opts.agent_socket.as_ref()).await {
                            tracing::warn!(
                                "cannot press the ACPI power button: {why}; the guest agent was asked to power off instead"
                            );
                            asked = Some(StopMethod::Agent);
                        } else {
                            tracing::warn!(
                                "skipping the ACPI power-down: {why}; trying QMP quit, then SIGTERM, then SIGKILL"
                            );
                            return None;
                        }
                    }
                    Err(why) => tracing::debug!("cannot press the ACPI power button again: {why}"),
                }
            }
            next_ask = Instant::now() + interval;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        on_wait(&format!(
            "waiting for the guest to power off ({}s left)",
            left.as_secs() + 1
        ));
        crate::exit_wait::gone_within(qemu, POLL.min(left)).await;
    }
    if !is_alive(qemu) {
        return Some(asked.unwrap_or(StopMethod::Powerdown));
    }
    let how = match asked {
        Some(StopMethod::Agent) => format!(
            "after the guest agent's `guest-shutdown` (and {presses} ACPI power-button press{})",
            if presses == 1 { "" } else { "es" }
        ),
        _ => format!(
            "after {presses} ACPI power-button press{}",
            if presses == 1 { "" } else { "es" }
        ),
    };
    tracing::warn!(
        "the guest did not power off within {:.0} s {how}; stopping QEMU instead",
        opts.timeout.as_secs_f64()
    );
    None
}

/// Asks the guest agent behind the runner's `socket` to power off, when it answers a ping
/// quickly; says whether it took the request.
async fn ask_agent(socket: Option<&PathBuf>) -> bool {
    let Some(socket) = socket.filter(|s| s.exists()) else {
        return false;
    };
    let mut agent = match AgentClient::connect(socket).await {
        Ok(agent) => agent,
        Err(err) => {
            tracing::debug!(error = %err, "the guest agent socket does not answer");
            return false;
        }
    };
    if let Err(err) = agent.call("guest-ping", None, AGENT_PING_LIMIT).await {
        tracing::debug!(error = %err, "the guest agent does not answer yet");
        return false;
    }
    match agent
        .call_no_reply(
            "guest-shutdown",
            Some(json!({"mode": "powerdown"})),
            AGENT_SHUTDOWN_LIMIT,
        )
        .await
    {
        Ok(()) => {
            tracing::info!("asked the guest agent to power the guest off");
            true
        }
        Err(err) => {
            tracing::warn!("the guest agent refused `guest-shutdown`: {err}");
            false
        }
    }
}
