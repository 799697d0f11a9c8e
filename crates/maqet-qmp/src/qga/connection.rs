//! One host-side connection to a guest agent channel.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::Instant;

use super::error::AgentError;
use super::framing::{Frame, FrameBuffer, SYNC_DELIMITER};

/// The largest id `guest-sync-delimited` gets (ids stay exact in every JSON implementation).
const MAX_SYNC_ID: u64 = (1 << 53) - 1;

/// A connection to the agent channel QEMU serves on a Unix socket (`-chardev socket,server=on`).
///
/// One command at a time (`&mut self`): the agent answers in order and without ids. A command is
/// only ever sent right after the agent proved to be listening (a successful [`Self::sync`]), so
/// a guest whose agent is down piles up harmless sync requests, never real commands that would
/// run later.
#[derive(Debug)]
pub struct AgentConnection {
    stream: UnixStream,
    buffer: FrameBuffer,
    synced: bool,
    next_id: u64,
}

impl AgentConnection {
    /// Connects to the channel's socket (not yet synchronised: the first command syncs).
    pub async fn connect(path: &Path) -> Result<AgentConnection, AgentError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| AgentError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(AgentConnection {
            stream,
            buffer: FrameBuffer::new(),
            synced: false,
            next_id: seed_id(),
        })
    }

    /// Whether the last exchange left the stream in step with the agent.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Makes the next command resynchronise first (after a guest reboot, for instance).
    pub fn mark_unsynced(&mut self) {
        self.synced = false;
    }

    /// Resynchronises: `0xFF` + `guest-sync-delimited` with a fresh id, dropping everything the
    /// agent sent before its answer.
    pub async fn sync(&mut self, limit: Duration) -> Result<(), AgentError> {
        self.sync_until(Instant::now() + limit, limit).await
    }

    async fn sync_until(&mut self, deadline: Instant, limit: Duration) -> Result<(), AgentError> {
        self.synced = false;
        self.buffer.clear();
        self.next_id = self.next_id % MAX_SYNC_ID + 1;
        let id = self.next_id;
        let mut request = vec![SYNC_DELIMITER];
        request.extend_from_slice(
            json!({"execute": "guest-sync-delimited", "arguments": {"id": id}})
                .to_string()
                .as_bytes(),
        );
        request.push(b'\n');
        self.write(&request, deadline, "guest-sync-delimited", limit)
            .await?;
        let mut delimited = false;
        loop {
            match self
                .read_frame(deadline, "guest-sync-delimited", limit)
                .await?
            {
                Frame::Delimiter => delimited = true,
                Frame::Object(reply)
                    if delimited && reply.get("return").and_then(Value::as_u64) == Some(id) =>
                {
                    self.synced = true;
                    return Ok(());
                }
                Frame::Object(_) | Frame::Invalid(_) => {}
            }
        }
    }

    /// Runs `command` and returns its `return` value; syncs first when needed, all within `limit`.
    ///
    /// A timeout leaves the connection unsynchronised, so the late reply is never taken for the
    /// next command's.
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
    ) -> Result<Value, AgentError> {
        let deadline = Instant::now() + limit;
        if !self.synced {
            self.sync_until(deadline, limit).await?;
        }
        self.send_command(command, arguments, deadline, limit)
            .await?;
        loop {
            match self.read_frame(deadline, command, limit).await? {
                Frame::Object(mut reply) => {
                    if let Some(ret) = reply.get_mut("return") {
                        return Ok(ret.take());
                    }
                    if let Some(error) = reply.get("error") {
                        let text = |key: &str| {
                            error
                                .get(key)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned()
                        };
                        return Err(AgentError::Command {
                            class: text("class"),
                            desc: text("desc"),
                            command: command.to_owned(),
                        });
                    }
                }
                // A stray delimiter or torn object: the stream is out of step after this reply.
                Frame::Delimiter | Frame::Invalid(_) => self.synced = false,
            }
        }
    }

    /// Sends a command the agent does not answer on success (`guest-shutdown`), then waits
    /// `grace` for an error reply; silence means it was accepted.
    pub async fn execute_no_reply(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        limit: Duration,
        grace: Duration,
    ) -> Result<(), AgentError> {
        let deadline = Instant::now() + limit;
        if !self.synced {
            self.sync_until(deadline, limit).await?;
        }
        self.send_command(command, arguments, deadline, limit)
            .await?;
        self.synced = false;
        match self
            .read_frame(Instant::now() + grace, command, grace)
            .await
        {
            Ok(Frame::Object(reply)) => match reply.get("error") {
                Some(error) => Err(AgentError::Command {
                    class: error["class"].as_str().unwrap_or_default().to_owned(),
                    desc: error["desc"].as_str().unwrap_or_default().to_owned(),
                    command: command.to_owned(),
                }),
                None => Ok(()),
            },
            Ok(_) | Err(AgentError::Timeout { .. }) => Ok(()),
            Err(AgentError::Closed) => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn send_command(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        deadline: Instant,
        limit: Duration,
    ) -> Result<(), AgentError> {
        let mut request = match arguments {
            Some(arguments) => json!({"execute": command, "arguments": arguments}),
            None => json!({"execute": command}),
        }
        .to_string()
        .into_bytes();
        request.push(b'\n');
        self.write(&request, deadline, command, limit).await
    }

    async fn write(
        &mut self,
        bytes: &[u8],
        deadline: Instant,
        command: &str,
        limit: Duration,
    ) -> Result<(), AgentError> {
        match tokio::time::timeout_at(deadline, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                self.synced = false;
                Err(AgentError::Io(err))
            }
            Err(_) => {
                self.synced = false;
                Err(timeout(command, limit))
            }
        }
    }

    async fn read_frame(
        &mut self,
        deadline: Instant,
        command: &str,
        limit: Duration,
    ) -> Result<Frame, AgentError> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(frame) = self.buffer.next_frame() {
                return Ok(frame);
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) => {
                    self.synced = false;
                    return Err(AgentError::Closed);
                }
                Ok(Ok(n)) => self.buffer.extend(&chunk[..n]),
                Ok(Err(err)) => {
                    self.synced = false;
                    return Err(AgentError::Io(err));
                }
                Err(_) => {
                    self.synced = false;
                    return Err(timeout(command, limit));
                }
            }
        }
    }
}

fn timeout(command: &str, after: Duration) -> AgentError {
    AgentError::Timeout {
        command: command.to_owned(),
        after,
    }
}

/// A starting id that differs between processes and runs, so a reply to an earlier
/// connection's sync (even another runner's) is never mistaken for ours.
fn seed_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)) % MAX_SYNC_ID
}
