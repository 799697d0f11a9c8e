//! One host-side connection to a guest agent channel.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::Instant;

use super::error::AgentError;
use super::framing::{Frame, FrameBuffer, MAX_REPLY_BYTES, SYNC_DELIMITER};

/// The largest id `guest-sync-delimited` gets (ids stay exact in every JSON implementation).
const MAX_SYNC_ID: u64 = (1 << 53) - 1;
/// How much one read from the channel takes at most.
const READ_CHUNK: usize = 64 * 1024;

/// A connection to the agent channel QEMU serves on a Unix socket (`-chardev socket,server=on`).
///
/// One command at a time (`&mut self`): the agent answers in order and without ids. A command is
/// only ever sent right after the agent proved to be listening (a successful [`Self::sync`]), so
/// a guest whose agent is down piles up harmless sync requests, never real commands that would
/// run later.
///
/// Everything the agent sends is hostile input: one reply may cost at most
/// [`MAX_REPLY_BYTES`](super::framing::MAX_REPLY_BYTES) of memory (a larger one fails the
/// command with [`AgentError::ReplyTooLarge`] and is skipped up to the next sync delimiter), and
/// a request that gets floods, garbage or a wrong sync id instead of its answer fails at its
/// deadline with [`AgentError::NoValidAnswer`], saying what came instead.
#[derive(Debug)]
pub struct AgentConnection {
    stream: UnixStream,
    buffer: FrameBuffer,
    synced: bool,
    next_id: u64,
    /// The first sync id this connection sent: ids from here to `next_id` may come late.
    first_id: u64,
    /// What the current request got instead of its answer.
    trouble: Trouble,
}

/// What arrived during one request that was not its answer.
#[derive(Debug, Default, Clone, Copy)]
struct Trouble {
    /// Bytes read from the channel.
    read: u64,
    /// Complete objects that were not the answer.
    stray_objects: u64,
    /// A sync answer with an id this connection never sent: (sent, got).
    wrong_sync: Option<(u64, u64)>,
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
        let next_id = seed_id();
        Ok(AgentConnection {
            stream,
            buffer: FrameBuffer::new(),
            synced: false,
            next_id,
            first_id: next_id + 1,
            trouble: Trouble::default(),
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
        self.trouble = Trouble::default();
        self.sync_until(Instant::now() + limit, "guest-sync-delimited", limit)
            .await
    }

    /// The bytes this connection buffers right now (bounded by the reply cap plus one read).
    pub fn buffered(&self) -> usize {
        self.buffer.buffered()
    }

    /// Syncs before `command` (named in errors) by `deadline`.
    async fn sync_until(
        &mut self,
        deadline: Instant,
        command: &str,
        limit: Duration,
    ) -> Result<(), AgentError> {
        self.synced = false;
        // Whatever comes before the agent's 0xFF is stale: it is dropped unread.
        self.buffer.skip_to_delimiter();
        self.next_id = self.next_id % MAX_SYNC_ID + 1;
        let id = self.next_id;
        let mut request = vec![SYNC_DELIMITER];
        request.extend_from_slice(
            json!({"execute": "guest-sync-delimited", "arguments": {"id": id}})
                .to_string()
                .as_bytes(),
        );
        request.push(b'\n');
        self.write(&request, deadline, command, limit).await?;
        loop {
            match self.read_frame(deadline, command, limit).await? {
                // The frame right after a delimiter is the candidate answer.
                Frame::Delimiter => {}
                Frame::Object(reply) => {
                    let got = reply.get("return").and_then(Value::as_u64);
                    if got == Some(id) {
                        self.synced = true;
                        self.trouble = Trouble::default();
                        return Ok(());
                    }
                    // A late answer to one of our earlier syncs is expected; any other id is not.
                    if let Some(got) = got
                        && !(self.first_id..id).contains(&got)
                    {
                        self.trouble.wrong_sync = Some((id, got));
                    }
                    self.trouble.stray_objects += 1;
                    self.buffer.skip_to_delimiter();
                }
                Frame::Invalid(_) | Frame::TooLarge => self.buffer.skip_to_delimiter(),
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
        self.trouble = Trouble::default();
        if !self.synced {
            self.sync_until(deadline, command, limit).await?;
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
                    self.trouble.stray_objects += 1;
                }
                // A stray delimiter or torn object: the stream is out of step after this reply.
                // (read_frame turns TooLarge into an error.)
                Frame::Delimiter | Frame::Invalid(_) | Frame::TooLarge => self.synced = false,
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
        self.trouble = Trouble::default();
        if !self.synced {
            self.sync_until(deadline, command, limit).await?;
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
            Ok(_) | Err(AgentError::Timeout { .. } | AgentError::NoValidAnswer { .. }) => Ok(()),
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
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            match self.buffer.next_frame() {
                Some(Frame::TooLarge) => {
                    self.synced = false;
                    return Err(AgentError::ReplyTooLarge {
                        command: command.to_owned(),
                        limit: MAX_REPLY_BYTES,
                    });
                }
                Some(frame) => return Ok(frame),
                None => {}
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) => {
                    self.synced = false;
                    return Err(AgentError::Closed);
                }
                Ok(Ok(n)) => {
                    self.trouble.read += n as u64;
                    self.buffer.extend(&chunk[..n]);
                }
                Ok(Err(err)) => {
                    self.synced = false;
                    return Err(AgentError::Io(err));
                }
                Err(_) => {
                    self.synced = false;
                    return Err(self.no_answer(command, limit));
                }
            }
        }
    }

    /// The error for a request whose deadline passed: silence, or what came instead.
    fn no_answer(&mut self, command: &str, after: Duration) -> AgentError {
        let trouble = std::mem::take(&mut self.trouble);
        // The next command resyncs, which drops this anyway: free a half-read reply now.
        self.buffer.skip_to_delimiter();
        self.buffer.take_dropped();
        if let Some((sent, got)) = trouble.wrong_sync {
            return AgentError::NoValidAnswer {
                command: command.to_owned(),
                after,
                detail: format!(
                    "it answered the resync (`guest-sync-delimited`) with id {got}, not {sent}"
                ),
            };
        }
        if trouble.read == 0 {
            return timeout(command, after);
        }
        let objects = match trouble.stray_objects {
            0 => String::new(),
            n => format!(" ({n} replies to nothing maqet asked)"),
        };
        AgentError::NoValidAnswer {
            command: command.to_owned(),
            after,
            detail: format!(
                "it sent {}{objects}, but not the answer",
                human_bytes(trouble.read)
            ),
        }
    }
}

/// `1234` → `1234 bytes`, `5_000_000` → `4.8 MiB`.
fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
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
