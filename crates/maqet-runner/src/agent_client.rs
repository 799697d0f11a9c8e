//! The caller's side of the runner's guest agent socket (`agent.sock`).
//!
//! The runner owns the only connection to a VM's agent channel and serves `agent.sock` (mode
//! 0600, same-uid peers only). The protocol is one JSON object per line each way: an
//! [`AgentRequest`] in, an [`AgentReply`] out, any number per connection, answered in order.
//! The runner serialises all clients' commands over the agent channel and enforces each
//! request's timeout, so a guest without a running agent costs a caller that timeout, never a hang.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// Extra time a client waits beyond a request's own timeout (the runner answers by then).
const REPLY_MARGIN: Duration = Duration::from_secs(5);

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

/// The runner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentReply {
    /// The agent's `return` value.
    Return(Value),
    /// The agent's error, or the runner's (`AgentTimeout`, `AgentUnavailable`).
    Error {
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

impl AgentCallError {
    /// Whether the agent did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Refused { class, .. } if class == CLASS_TIMEOUT)
    }
}

/// A connection to a runner's `agent.sock`.
#[derive(Debug)]
pub struct AgentClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl AgentClient {
    /// Connects to the runner's agent socket.
    pub fn connect(path: &Path) -> Result<AgentClient, AgentCallError> {
        let connect_error = |source| AgentCallError::Connect {
            path: path.to_path_buf(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(connect_error)?;
        let writer = stream.try_clone().map_err(connect_error)?;
        Ok(AgentClient {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Runs one agent command and returns its `return` value.
    pub fn call(
        &mut self,
        execute: &str,
        arguments: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, AgentCallError> {
        self.send(AgentRequest {
            execute: execute.to_owned(),
            arguments,
            timeout_ms: timeout.as_millis().try_into().unwrap_or(u64::MAX),
            no_reply: false,
        })
    }

    /// Sends a command that does not answer on success (`guest-shutdown`).
    pub fn call_no_reply(
        &mut self,
        execute: &str,
        arguments: Option<Value>,
        timeout: Duration,
    ) -> Result<(), AgentCallError> {
        self.send(AgentRequest {
            execute: execute.to_owned(),
            arguments,
            timeout_ms: timeout.as_millis().try_into().unwrap_or(u64::MAX),
            no_reply: true,
        })
        .map(drop)
    }

    fn send(&mut self, request: AgentRequest) -> Result<Value, AgentCallError> {
        let wait = Duration::from_millis(request.timeout_ms).saturating_add(REPLY_MARGIN);
        self.writer
            .set_read_timeout(Some(wait))
            .and_then(|()| self.reader.get_ref().set_read_timeout(Some(wait)))
            .map_err(AgentCallError::Io)?;
        let mut line =
            serde_json::to_string(&request).map_err(|e| AgentCallError::Protocol(e.to_string()))?;
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(AgentCallError::Io)?;
        let mut answer = String::new();
        let read = (&mut self.reader)
            .take(MAX_REPLY_LINE as u64)
            .read_line(&mut answer)
            .map_err(AgentCallError::Io)?;
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
        match serde_json::from_str::<AgentReply>(&answer) {
            Ok(AgentReply::Return(value)) => Ok(value),
            Ok(AgentReply::Error { class, desc }) => Err(AgentCallError::Refused { class, desc }),
            Err(err) => Err(AgentCallError::Protocol(err.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_are_tagged_like_qmp() {
        let ret: AgentReply = serde_json::from_str(r#"{"return": {"pid": 5}}"#).unwrap();
        assert_eq!(ret, AgentReply::Return(json!({"pid": 5})));
        let err = AgentReply::Error {
            class: CLASS_TIMEOUT.into(),
            desc: "no answer".into(),
        };
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"error": {"class": "AgentTimeout", "desc": "no answer"}})
        );
    }
}
