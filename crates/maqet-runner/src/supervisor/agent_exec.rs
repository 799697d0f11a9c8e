//! `exec and wait` in the runner: `guest-exec`, then `guest-exec-status` polled here until the
//! command ends, so a caller pays one request instead of one per poll and a finished command is
//! seen within a few milliseconds.
//!
//! Each agent call goes through [`Relay::run`] on its own, so other clients' commands interleave
//! with the polls, and every bound of a single call (the reply cap, resync, its timeout) holds
//! for each of them. The first poll goes out at once, the next ones after pauses that double
//! from [`FIRST_PAUSE`] up to [`MAX_PAUSE`] (tokio's timer counts whole milliseconds, so the
//! shortest pauses round up to the next tick).

use std::time::Duration;

use maqet_runner::agent_client::{AgentReply, AgentRequest};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::agent::{Relay, request_limit};

/// The pause before the second status poll (the first follows `guest-exec` at once).
const FIRST_PAUSE: Duration = Duration::from_micros(250);
/// The longest pause between two status polls.
const MAX_PAUSE: Duration = Duration::from_millis(4);
/// The least time a status poll is given, even right at the deadline.
const MIN_POLL_LIMIT: Duration = Duration::from_millis(50);

/// Runs `request.arguments` with `guest-exec` and waits for its end until the request's timeout.
///
/// Answers the last `guest-exec-status` reply with the command's `pid` added (`exited` false when
/// the time ran out first), or the first error of any call, as [`Relay::run`] gives it, naming
/// the agent command that failed.
pub(super) async fn exec_and_wait(relay: &Relay, request: AgentRequest) -> AgentReply {
    let limit = request_limit(&request);
    let deadline = Instant::now() + limit;
    let left = || deadline.saturating_duration_since(Instant::now());
    let started = relay
        .run(AgentRequest::new("guest-exec", request.arguments, left()))
        .await;
    let pid = match started {
        AgentReply::Return(value) => match value.get("pid").and_then(Value::as_i64) {
            Some(pid) => pid,
            // Passed on as it came: the caller reports the agent's unexpected shape.
            None => return AgentReply::Return(value),
        },
        error => return tagged(error, "guest-exec"),
    };
    let mut pause = Duration::ZERO;
    loop {
        let poll = AgentRequest::new(
            "guest-exec-status",
            Some(json!({ "pid": pid })),
            left().max(MIN_POLL_LIMIT),
        );
        let mut status = match relay.run(poll).await {
            AgentReply::Return(Value::Object(status)) => status,
            other => return tagged(other, "guest-exec-status"),
        };
        // Anything but a plain `false` ends the wait: the caller checks the status (a hostile
        // agent's odd `exited` fails there at once, not at the deadline).
        let exited = status.get("exited") != Some(&Value::Bool(false));
        pause = next_pause(pause);
        if exited || Instant::now() + pause >= deadline {
            status.insert("pid".to_owned(), json!(pid));
            return AgentReply::Return(Value::Object(status));
        }
        tokio::time::sleep(pause).await;
    }
}

/// An error reply names the agent `command` it came from.
fn tagged(reply: AgentReply, command: &str) -> AgentReply {
    match reply {
        AgentReply::Error { class, desc, .. } => AgentReply::Error {
            command: Some(command.to_owned()),
            class,
            desc,
        },
        other => other,
    }
}

/// The pause after `pause` (zero before the first): [`FIRST_PAUSE`], doubling up to [`MAX_PAUSE`].
fn next_pause(pause: Duration) -> Duration {
    if pause.is_zero() {
        FIRST_PAUSE
    } else {
        (pause * 2).min(MAX_PAUSE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_start_below_a_millisecond_and_back_off_to_a_few() {
        let mut pauses = vec![next_pause(Duration::ZERO)];
        for _ in 0..8 {
            pauses.push(next_pause(pauses[pauses.len() - 1]));
        }
        assert_eq!(pauses[0], Duration::from_micros(250));
        assert!(pauses.iter().all(|p| *p <= Duration::from_millis(4)));
        assert_eq!(pauses[8], Duration::from_millis(4));
    }
}
