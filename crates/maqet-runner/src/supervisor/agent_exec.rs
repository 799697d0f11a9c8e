//! `exec and wait` in the runner: `guest-exec`, then `guest-exec-status` polled here until the
//! command ends, so a caller pays one request instead of one per poll and a finished command is
//! seen within a few milliseconds.
//!
//! Each agent call goes through [`Relay::run`] on its own, so other clients' commands interleave
//! with the polls, and every bound of a single call (the reply cap, resync, its timeout) holds
//! for each of them. The first poll goes out at once, the next ones after pauses that double
//! from [`FIRST_PAUSE`] up to [`STEADY_PAUSE`] while the command is young ([`STEADY_FOR`]: most
//! commands end by then), then on up to [`MAX_PAUSE`]. tokio's timer counts whole milliseconds
//! and rounds a pause up to the next tick (a 250 µs pause took 1–2 ms), so pauses shorter than
//! [`TIMER_TICKS_FROM`] are slept on a blocking-pool thread, which keeps them close to their
//! length.

use std::time::Duration;

use maqet_runner::agent_client::{AgentReply, AgentRequest};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::agent::{Relay, request_limit};

/// The pause before the second status poll (the first follows `guest-exec` at once).
const FIRST_PAUSE: Duration = Duration::from_micros(250);
/// The longest pause between two status polls while the command is younger than [`STEADY_FOR`].
const STEADY_PAUSE: Duration = Duration::from_millis(1);
/// How long after `guest-exec` the polls stay [`STEADY_PAUSE`] apart at most.
const STEADY_FOR: Duration = Duration::from_millis(50);
/// The longest pause between two status polls.
const MAX_PAUSE: Duration = Duration::from_millis(4);
/// Pauses this long or longer are left to tokio's millisecond timer.
const TIMER_TICKS_FROM: Duration = Duration::from_millis(2);
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
    let began = Instant::now();
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
        pause = next_pause(pause, began.elapsed());
        if exited || Instant::now() + pause >= deadline {
            status.insert("pid".to_owned(), json!(pid));
            return AgentReply::Return(Value::Object(status));
        }
        pause_for(pause).await;
    }
}

/// Sleeps `pause`: on tokio's timer from [`TIMER_TICKS_FROM`] up, else on a blocking-pool
/// thread (sub-millisecond pauses stay that short).
async fn pause_for(pause: Duration) {
    if pause >= TIMER_TICKS_FROM {
        tokio::time::sleep(pause).await;
        return;
    }
    if tokio::task::spawn_blocking(move || std::thread::sleep(pause))
        .await
        .is_err()
    {
        // No blocking thread (the runtime is shutting down): the coarse timer still pauses.
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

/// The pause after `pause` (zero before the first), `elapsed` since `guest-exec`:
/// [`FIRST_PAUSE`], doubling up to [`STEADY_PAUSE`] within [`STEADY_FOR`], then up to
/// [`MAX_PAUSE`].
fn next_pause(pause: Duration, elapsed: Duration) -> Duration {
    let most = if elapsed < STEADY_FOR {
        STEADY_PAUSE
    } else {
        MAX_PAUSE
    };
    if pause.is_zero() {
        FIRST_PAUSE
    } else {
        (pause * 2).min(most)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_start_below_a_millisecond_and_back_off_to_a_few() {
        let young = Duration::from_millis(5);
        let mut pauses = vec![next_pause(Duration::ZERO, young)];
        for _ in 0..8 {
            pauses.push(next_pause(pauses[pauses.len() - 1], young));
        }
        assert_eq!(pauses[0], Duration::from_micros(250));
        assert_eq!(pauses[2], Duration::from_millis(1));
        assert!(pauses.iter().all(|p| *p <= Duration::from_millis(1)));
        let old = Duration::from_millis(80);
        let mut pause = pauses[8];
        for _ in 0..8 {
            pause = next_pause(pause, old);
        }
        assert_eq!(pause, Duration::from_millis(4));
    }
}
