//! The caller's side of the runner's guest agent socket (`agent.sock`).
//!
//! The runner owns the only connection to a VM's agent channel and serves `agent.sock` (mode
//! 0600, same-uid peers only). The protocol is one JSON object per line each way: an
//! [`AgentRequest`] in, an [`AgentReply`] out, any number per connection, answered in order.
//! The runner serialises all clients' commands over the agent channel and enforces each
//! request's timeout, so a guest without a running agent costs a caller that timeout, never a hang.
//! One request, [`EXEC_AND_WAIT`], is the runner's own: it runs a guest command and waits for
//! its end inside the runner, so a caller pays one round trip instead of one per status poll.
//!
//! [`AgentClient`] is async (tokio); blocking callers drive it with their own runtime (the
//! core's `Maqet::block_on`). [`crate::agent_blocking`] sends one [`EXEC_AND_WAIT`] without any
//! runtime (what `maqet exec` does when it finds the runner without the database).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// Reply class the runner uses when the agent did not answer in time.
pub const CLASS_TIMEOUT: &str = "AgentTimeout";
/// Reply class the runner uses when it cannot reach the agent channel at all.
pub const CLASS_UNAVAILABLE: &str = "AgentUnavailable";
/// Reply class the runner uses when one agent reply passed
/// [`MAX_REPLY_BYTES`](maqet_qmp::qga::framing::MAX_REPLY_BYTES).
pub const CLASS_TOO_LARGE: &str = "AgentReplyTooLarge";
/// The longest reply line the runner sends and a client reads: one agent reply at its cap, plus
/// room for the envelope. A longer line is refused on both sides.
pub const MAX_REPLY_LINE: usize = maqet_qmp::qga::framing::MAX_REPLY_BYTES + 1024 * 1024;

/// The request name of [`AgentClient::exec_and_wait`]: `guest-exec`, then `guest-exec-status`
/// polled by the runner until the command ends. Not an agent command: the runner handles it.
pub const EXEC_AND_WAIT: &str = "maqet-exec-and-wait";

/// Extra time a client waits beyond a request's own timeout (the runner answers by then).
pub(crate) const REPLY_MARGIN: Duration = Duration::from_secs(5);

/// One agent command, as sent to the runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRequest {
    /// The agent command (`guest-exec`, `guest-file-read`, ...).
    pub execute: String,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// How long the runner waits for the agent (including a resync), in milliseconds.
    pub timeout_ms: u64,
    /// The command does not answer on success (`guest-shutdown`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_reply: bool,
}

impl AgentRequest {
    /// A request for `execute` with `timeout` (in whole milliseconds, saturating).
    pub fn new(execute: &str, arguments: Option<Value>, timeout: Duration) -> AgentRequest {
        AgentRequest {
            execute: execute.to_owned(),
            arguments,
            timeout_ms: timeout.as_millis().try_into().unwrap_or(u64::MAX),
            no_reply: false,
        }
    }
}

/// The runner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentReply {
    /// The agent's `return` value.
    Return(Value),
    /// The agent's error, or the runner's (`AgentTimeout`, `AgentUnavailable`).
    Error {
        /// The agent command that failed, when the request ran several
        /// ([`EXEC_AND_WAIT`]: `guest-exec` or `guest-exec-status`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// Error class.
        class: String,
        /// Description.
        desc: String,
    },
}

/// Why an agent call through the runner failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentCallError {
    /// The runner's agent socket could not be connected.
    #[error("cannot connect to the runner's guest agent socket {}", path.display())]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The exchange with the runner failed.
    #[error("the runner's guest agent socket failed mid-request")]
    Io(#[source] std::io::Error),
    /// The runner closed the connection or answered with something that is not a reply.
    #[error("the runner gave no valid answer on its guest agent socket: {0}")]
    Protocol(String),
    /// The agent (or the runner on its behalf) answered with an error.
    #[error("{desc} ({class})")]
    Refused {
        /// Error class ([`CLASS_TIMEOUT`], [`CLASS_UNAVAILABLE`], or the agent's own).
        class: String,
        /// Description.
        desc: String,
    },
}

/// A failed [`AgentClient::exec_and_wait`]: the agent command it failed in, and why.
#[derive(Debug)]
pub struct ExecWaitError {
    /// `guest-exec` or `guest-exec-status`.
    pub command: String,
    /// Why.
    pub error: AgentCallError,
}

impl AgentCallError {
    /// Whether the agent did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Refused { class, .. } if class == CLASS_TIMEOUT)
    }
}

/// A connection to a runner's `agent.sock`, on tokio.
///
/// Every reply line is read with a cap of [`MAX_REPLY_LINE`] bytes (a longer one fails the call
/// and ends the connection), and every call is bounded by its own timeout plus a margin, so a
/// runner that stops answering costs a caller that long, never a hang.
#[derive(Debug)]
pub struct AgentClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl AgentClient {
    /// Connects to the runner's agent socket.
    pub async fn connect(path: &Path) -> Result<AgentClient, AgentCallError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| AgentCallError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        let (read, writer) = stream.into_split();
        Ok(AgentClient {
            reader: BufReader::new(read),
            writer,
        })
    }

    /// Runs one agent command and returns its `return` value.
    pub async fn call(
        &mut self,
        execute: &str,
        arguments: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, AgentCallError> {
        self.send(AgentRequest::new(execute, arguments, timeout))
            .await
    }

    /// Sends a command that does not answer on success (`guest-shutdown`).
    pub async fn call_no_reply(
        &mut self,
        execute: &str,
        arguments: Option<Value>,
        timeout: Duration,
    ) -> Result<(), AgentCallError> {
        let mut request = AgentRequest::new(execute, arguments, timeout);
        request.no_reply = true;
        self.send(request).await.map(drop)
    }

    /// Starts `guest-exec` with `arguments` and lets the runner poll `guest-exec-status` until
    /// the command ends or `timeout` passes: one request for the whole command. The answer is
    /// the last status with the command's guest `pid` added; `exited` is false when the time ran
    /// out first.
    ///
    /// A failure comes with the agent command it happened in (`guest-exec` or
    /// `guest-exec-status`).
    pub async fn exec_and_wait(
        &mut self,
        arguments: Value,
        timeout: Duration,
    ) -> Result<Value, ExecWaitError> {
        let request = AgentRequest::new(EXEC_AND_WAIT, Some(arguments), timeout);
        exec_wait_outcome(self.exchange(request).await)
    }

    async fn send(&mut self, request: AgentRequest) -> Result<Value, AgentCallError> {
        match self.exchange(request).await? {
            AgentReply::Return(value) => Ok(value),
            AgentReply::Error { class, desc, .. } => Err(AgentCallError::Refused { class, desc }),
        }
    }

    async fn exchange(&mut self, request: AgentRequest) -> Result<AgentReply, AgentCallError> {
        let wait = Duration::from_millis(request.timeout_ms).saturating_add(REPLY_MARGIN);
        let mut line =
            serde_json::to_string(&request).map_err(|e| AgentCallError::Protocol(e.to_string()))?;
        line.push('\n');
        let exchange = async {
            self.writer
                .write_all(line.as_bytes())
                .await
                .map_err(AgentCallError::Io)?;
            let mut answer = String::new();
            let read = (&mut self.reader)
                .take(MAX_REPLY_LINE as u64)
                .read_line(&mut answer)
                .await
                .map_err(AgentCallError::Io)?;
            Ok::<_, AgentCallError>((read, answer))
        };
        let (read, answer) = tokio::time::timeout(wait, exchange)
            .await
            .map_err(|_| no_answer_within(wait))??;
        reply_from_line(read, &answer)
    }
}

/// The error of a request the runner did not answer within `wait`.
pub(crate) fn no_answer_within(wait: Duration) -> AgentCallError {
    AgentCallError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no answer within {:.1} s", wait.as_secs_f64()),
    ))
}

/// The reply in `answer`, a line of `read` bytes read with a cap of [`MAX_REPLY_LINE`].
pub(crate) fn reply_from_line(read: usize, answer: &str) -> Result<AgentReply, AgentCallError> {
    if read == 0 {
        return Err(AgentCallError::Protocol(
            "the runner closed the connection".into(),
        ));
    }
    if !answer.ends_with('\n') && read >= MAX_REPLY_LINE {
        return Err(AgentCallError::Protocol(format!(
            "its reply passed {} MiB",
            MAX_REPLY_LINE >> 20
        )));
    }
    serde_json::from_str::<AgentReply>(answer)
        .map_err(|err| AgentCallError::Protocol(err.to_string()))
}

/// An [`EXEC_AND_WAIT`] exchange's outcome: the status, or the error with the agent command
/// it happened in (`guest-exec` unless the runner names another).
pub(crate) fn exec_wait_outcome(
    exchanged: Result<AgentReply, AgentCallError>,
) -> Result<Value, ExecWaitError> {
    match exchanged {
        Ok(AgentReply::Return(value)) => Ok(value),
        Ok(AgentReply::Error {
            command,
            class,
            desc,
        }) => Err(ExecWaitError {
            command: command.unwrap_or_else(|| "guest-exec".to_owned()),
            error: AgentCallError::Refused { class, desc },
        }),
        Err(error) => Err(ExecWaitError {
            command: "guest-exec".to_owned(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::net::UnixListener;

    /// A fake runner that reads one request line and answers with `answer`.
    async fn one_answer(answer: Vec<u8>) -> (AgentClient, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            BufReader::new(read).read_line(&mut line).await.unwrap();
            let _ = write.write_all(&answer).await;
        });
        (AgentClient::connect(&path).await.unwrap(), dir)
    }

    #[tokio::test]
    async fn a_reply_line_past_the_cap_is_refused_unread() {
        let mut huge = b"{\"return\": \"".to_vec();
        huge.resize(MAX_REPLY_LINE + 4096, b'A');
        let (mut client, _dir) = one_answer(huge).await;
        let err = client
            .call("guest-info", None, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AgentCallError::Protocol(text) if text.contains("MiB")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn exec_and_wait_errors_name_the_agent_command() {
        let reply =
            br#"{"error": {"command": "guest-exec-status", "class": "AgentTimeout", "desc": "x"}}"#;
        let mut answer = reply.to_vec();
        answer.push(b'\n');
        let (mut client, _dir) = one_answer(answer).await;
        let err = client
            .exec_and_wait(json!({"path": "true"}), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(err.command, "guest-exec-status");
        assert!(err.error.is_timeout(), "{:?}", err.error);
    }

    #[tokio::test]
    async fn a_runner_that_closes_is_a_protocol_error_not_a_hang() {
        let (mut client, _dir) = one_answer(Vec::new()).await;
        let err = client
            .call("guest-ping", None, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, AgentCallError::Protocol(_)), "{err:?}");
    }

    #[test]
    fn replies_are_tagged_like_qmp() {
        let ret: AgentReply = serde_json::from_str(r#"{"return": {"pid": 5}}"#).unwrap();
        assert_eq!(ret, AgentReply::Return(json!({"pid": 5})));
        let err = AgentReply::Error {
            command: None,
            class: CLASS_TIMEOUT.into(),
            desc: "no answer".into(),
        };
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"error": {"class": "AgentTimeout", "desc": "no answer"}})
        );
    }
}
