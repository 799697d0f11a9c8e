//! The guest agent relay: the runner's one connection to QEMU's agent channel (`qga.sock`),
//! served to clients on `agent.sock`.
//!
//! Clients send [`AgentRequest`] lines and get [`AgentReply`] lines (see
//! `maqet_runner::agent_client`). Commands from all clients run one at a time over the single
//! [`AgentConnection`], which resynchronises (`guest-sync-delimited`, `0xFF`) on connect, after
//! every timeout and after the guest resets or reopens the port (QMP `RESET`,
//! `VSERPORT_CHANGE`). [`EXEC_AND_WAIT`] requests are served by [`super::agent_exec`]. Each request carries its own timeout, which also bounds the wait for
//! another client's command, so a guest without a running agent never hangs anyone. The
//! socket is mode 0600 and refuses peers of another uid, like `qmp.sock`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use maqet_qmp::QmpEvent;
use maqet_qmp::qga::{AgentConnection, AgentError};
use maqet_runner::agent_client::{
    AgentReply, AgentRequest, CLASS_TIMEOUT, CLASS_TOO_LARGE, CLASS_UNAVAILABLE, EXEC_AND_WAIT,
    MAX_REPLY_LINE,
};
use maqet_runner::layout::VmPaths;
use maqet_runner::process;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Mutex, broadcast};
use tokio::time::Instant;

use super::log::log;
use super::mux::{accept_forever, admit_peer, bind};

/// The longest a single request may ask for.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How long a command without a success reply (`guest-shutdown`) waits for an error reply.
const NO_REPLY_GRACE: Duration = Duration::from_millis(500);
/// Commands too frequent to log one by one (output polling and file chunks).
const QUIET_COMMANDS: &[&str] = &[
    "guest-exec-status",
    "guest-file-read",
    "guest-file-write",
    "guest-ping",
];

/// The shared agent connection: `None` until first use and after QEMU closed it.
pub(super) struct Relay {
    channel: PathBuf,
    connection: Mutex<Option<AgentConnection>>,
    resync: AtomicBool,
}

/// Serves `agent.sock` when QEMU (pid `qemu_pid`) runs with the VM's agent channel; returns
/// whether it does.
pub fn start(paths: &VmPaths, qemu_pid: u32, events: broadcast::Receiver<QmpEvent>) -> bool {
    let cmdline = process::cmdline(qemu_pid).unwrap_or_default();
    if !paths.has_agent_channel(&cmdline) {
        return false;
    }
    // Agent replies may be large (up to the reply cap): their memory must go back when freed.
    super::heap::map_large_buffers();
    let socket = paths.agent_socket();
    let listener = match bind(&socket) {
        Ok(listener) => listener,
        Err(err) => {
            log!(
                "cannot serve the guest agent socket {}: {err}",
                socket.display()
            );
            return false;
        }
    };
    let relay = Arc::new(Relay {
        channel: paths.qga_socket(),
        connection: Mutex::new(None),
        resync: AtomicBool::new(true),
    });
    tokio::spawn(watch_guest(events, relay.clone()));
    tokio::spawn(serve(listener, relay));
    log!("guest agent relay on {}", socket.display());
    true
}

/// A guest reset or a reopened port means a new agent: resync before the next command.
async fn watch_guest(mut events: broadcast::Receiver<QmpEvent>, relay: Arc<Relay>) {
    loop {
        match events.recv().await {
            Ok(event) if matches!(event.event.as_str(), "RESET" | "VSERPORT_CHANGE") => {
                relay.resync.store(true, Ordering::SeqCst);
            }
            Ok(_) => {}
            // Missed events may have included a reset.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                relay.resync.store(true, Ordering::SeqCst);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn serve(listener: UnixListener, relay: Arc<Relay>) {
    let own_uid = rustix::process::geteuid().as_raw();
    accept_forever(&listener, "guest agent", |stream| {
        serve_client(stream, relay.clone(), own_uid)
    })
    .await;
}

async fn serve_client(mut stream: UnixStream, relay: Arc<Relay>, own_uid: u32) {
    let refusal = |desc| {
        reply_line(AgentReply::Error {
            command: None,
            class: "GenericError".into(),
            desc,
        })
    };
    if admit_peer(&mut stream, own_uid, "guest agent", refusal)
        .await
        .is_none()
    {
        return;
    }
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = match serde_json::from_str::<AgentRequest>(&line) {
            Ok(request) if request.execute == EXEC_AND_WAIT => {
                super::agent_exec::exec_and_wait(&relay, request).await
            }
            Ok(request) => relay.run(request).await,
            Err(err) => AgentReply::Error {
                command: None,
                class: "GenericError".into(),
                desc: format!("not a valid agent request: {err}"),
            },
        };
        let line = reply_line(reply);
        if write.write_all(line.as_bytes()).await.is_err() {
            return;
        }
    }
}

impl Relay {
    /// Runs one agent command for a client, within the request's own timeout.
    pub(super) async fn run(&self, request: AgentRequest) -> AgentReply {
        let limit = request_limit(&request);
        let deadline = Instant::now() + limit;
        let started = Instant::now();
        let Ok(mut guard) = tokio::time::timeout_at(deadline, self.connection.lock()).await else {
            return AgentReply::Error {
                command: None,
                class: CLASS_TIMEOUT.into(),
                desc: format!(
                    "the guest agent stayed busy with other commands for {limit:?}; retry with a longer timeout"
                ),
            };
        };
        if guard.is_none() {
            match AgentConnection::connect(&self.channel).await {
                Ok(connection) => *guard = Some(connection),
                Err(err) => {
                    log!("guest agent: {}", maqet_error_chain::error_chain(&err));
                    return AgentReply::Error {
                        command: None,
                        class: CLASS_UNAVAILABLE.into(),
                        desc: maqet_error_chain::error_chain(&err),
                    };
                }
            }
        }
        let Some(connection) = guard.as_mut() else {
            return AgentReply::Error {
                command: None,
                class: CLASS_UNAVAILABLE.into(),
                desc: "the guest agent channel is not connected".into(),
            };
        };
        if self.resync.swap(false, Ordering::SeqCst) {
            connection.mark_unsynced();
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let command = request.execute.as_str();
        let result = if request.no_reply {
            connection
                .execute_no_reply(command, request.arguments, remaining, NO_REPLY_GRACE)
                .await
                .map(|()| serde_json::Value::Null)
        } else {
            connection
                .execute(command, request.arguments, remaining)
                .await
        };
        let quiet = QUIET_COMMANDS.contains(&command);
        let elapsed = started.elapsed();
        match result {
            Ok(value) => {
                if !quiet {
                    log!("guest agent: {command} ok ({elapsed:?})");
                }
                AgentReply::Return(value)
            }
            Err(AgentError::Command { class, desc, .. }) => {
                if !quiet {
                    log!("guest agent: {command} refused: {desc} ({class})");
                }
                AgentReply::Error {
                    command: None,
                    class,
                    desc,
                }
            }
            Err(err @ AgentError::NoValidAnswer { .. }) => {
                let desc = err.to_string();
                log!("guest agent: {desc}");
                super::heap::return_free_heap();
                AgentReply::Error {
                    command: None,
                    class: CLASS_TIMEOUT.into(),
                    desc,
                }
            }
            // The connection stays: it skips the rest of the reply when it resyncs.
            Err(err @ AgentError::ReplyTooLarge { .. }) => {
                let desc = err.to_string();
                log!("guest agent: {desc}");
                super::heap::return_free_heap();
                AgentReply::Error {
                    command: None,
                    class: CLASS_TOO_LARGE.into(),
                    desc,
                }
            }
            Err(AgentError::Timeout { .. }) => {
                if !quiet {
                    log!("guest agent: {command} got no answer within {limit:?}");
                }
                AgentReply::Error {
                    command: None,
                    class: CLASS_TIMEOUT.into(),
                    desc: format!(
                        "the guest agent did not answer `{command}` within {:.1} s; is qemu-ga running in the guest? (`maqet wait VM --agent` waits for it)",
                        limit.as_secs_f64()
                    ),
                }
            }
            Err(err) => {
                let text = maqet_error_chain::error_chain(&err);
                log!("guest agent: {command} failed: {text}; reconnecting next time");
                *guard = None;
                AgentReply::Error {
                    command: None,
                    class: CLASS_UNAVAILABLE.into(),
                    desc: text,
                }
            }
        }
    }
}

/// How long a request may take: its own timeout, at least 1 ms, at most [`MAX_TIMEOUT`].
pub(super) fn request_limit(request: &AgentRequest) -> Duration {
    Duration::from_millis(request.timeout_ms.max(1)).min(MAX_TIMEOUT)
}

/// The reply as one line for the client, at most [`MAX_REPLY_LINE`] bytes: the agent's reply
/// was at most the cap, but re-encoding can lengthen it (`1e9` becomes `1000000000.0`).
fn reply_line(reply: AgentReply) -> String {
    let mut line = serde_json::to_string(&reply).unwrap_or_else(|_| "{}".to_owned());
    drop(reply);
    if line.len() >= MAX_REPLY_LINE {
        let len = line.len();
        drop(line);
        log!("guest agent: a reply re-encoded to {len} bytes, past the socket's limit; refused");
        line = serde_json::to_string(&AgentReply::Error {
            command: None,
            class: CLASS_TOO_LARGE.into(),
            desc: format!(
                "the guest agent's reply grew to {} MiB when re-encoded, past the {} MiB the runner passes on",
                len >> 20,
                MAX_REPLY_LINE >> 20
            ),
        })
        .unwrap_or_else(|_| "{}".to_owned());
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_line_is_bounded_for_the_client() {
        let small = reply_line(AgentReply::Return(serde_json::json!({"pid": 5})));
        assert_eq!(small, "{\"return\":{\"pid\":5}}\n");
        // An agent can send `1e9` within the cap that re-encodes as `1000000000.0`.
        let big = reply_line(AgentReply::Return(serde_json::Value::String(
            "A".repeat(MAX_REPLY_LINE),
        )));
        assert!(
            big.len() < 1024,
            "refused, not passed on: {} bytes",
            big.len()
        );
        let refused: AgentReply = serde_json::from_str(&big).unwrap();
        assert!(
            matches!(&refused, AgentReply::Error { class, .. } if class == CLASS_TOO_LARGE),
            "{refused:?}"
        );
    }
}
