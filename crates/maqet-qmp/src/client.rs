//! The connection: handshake, id-matched command replies, event fan-out.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::error::QmpError;
use crate::wire::{ClientCommand, Greeting, MessageReader, QmpEvent, ServerMessage, WireError};

/// How long a command waits for its reply unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many events a subscriber may fall behind before it loses the oldest ones.
pub const EVENT_CAPACITY: usize = 1024;

/// An async QMP client over a Unix socket.
///
/// Cloning is cheap and every clone shares the one connection: commands from many clones may be
/// in flight at once, and each gets its own reply (matched by `id`). A background task owns the
/// read half; it ends, and every pending command fails with [`QmpError::Closed`], when the peer
/// closes the socket. Dropping the last clone closes the connection.
#[derive(Debug, Clone)]
pub struct QmpClient {
    shared: Arc<Shared>,
    default_timeout: Duration,
}

#[derive(Debug)]
struct Shared {
    greeting: Greeting,
    outgoing: mpsc::UnboundedSender<String>,
    pending: Arc<PendingReplies>,
    next_id: AtomicU64,
    events: Mutex<broadcast::Receiver<QmpEvent>>,
    closed: watch::Receiver<bool>,
    reader: tokio::task::AbortHandle,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// What came back for one command.
#[derive(Debug)]
enum Reply {
    Return(Value),
    Error { class: String, desc: String },
}

/// Commands waiting for their reply, by id.
#[derive(Debug, Default)]
struct PendingReplies {
    state: Mutex<PendingState>,
}

#[derive(Debug, Default)]
struct PendingState {
    closed: bool,
    waiting: HashMap<u64, oneshot::Sender<Reply>>,
}

impl PendingReplies {
    fn lock(&self) -> MutexGuard<'_, PendingState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, id: u64) -> Result<oneshot::Receiver<Reply>, QmpError> {
        let mut state = self.lock();
        if state.closed {
            return Err(QmpError::Closed);
        }
        let (tx, rx) = oneshot::channel();
        state.waiting.insert(id, tx);
        Ok(rx)
    }

    fn forget(&self, id: u64) {
        self.lock().waiting.remove(&id);
    }

    fn resolve(&self, id: Option<Value>, reply: Reply) {
        let sender = id
            .as_ref()
            .and_then(Value::as_u64)
            .and_then(|n| self.lock().waiting.remove(&n));
        match sender {
            // The receiver may be gone if the command was cancelled just now; nothing to do then.
            Some(sender) => drop(sender.send(reply)),
            None => tracing::debug!(
                ?id,
                ?reply,
                "dropping a QMP reply whose id no command is waiting for"
            ),
        }
    }

    /// Fails every waiting command with `Closed` (by dropping its sender) and refuses new ones.
    fn close(&self) {
        let waiting = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.waiting)
        };
        drop(waiting);
    }
}

/// A command that was sent and whose reply has not been awaited yet (see [`QmpClient::send`]).
///
/// Dropping it forgets the command: a reply that comes later is dropped.
#[derive(Debug)]
pub struct PendingReply {
    pending: Arc<PendingReplies>,
    id: u64,
    command: String,
    reply: Option<oneshot::Receiver<Reply>>,
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        self.pending.forget(self.id);
    }
}

impl PendingReply {
    /// Waits up to `timeout` for the reply; a QEMU error becomes [`QmpError::Command`].
    pub async fn wait(mut self, timeout: Duration) -> Result<Value, QmpError> {
        let Some(reply) = self.reply.take() else {
            return Err(QmpError::Closed);
        };
        let reply = tokio::time::timeout(timeout, reply)
            .await
            .map_err(|_| QmpError::Timeout {
                command: self.command.clone(),
                after: timeout,
            })?
            .map_err(|_| QmpError::Closed)?;
        match reply {
            Reply::Return(value) => Ok(value),
            Reply::Error { class, desc } => Err(QmpError::Command {
                class,
                desc,
                command: std::mem::take(&mut self.command),
            }),
        }
    }
}

/// The answer to the `qmp_capabilities` that [`QmpClient::from_stream_pipelined`] sent.
#[derive(Debug)]
pub struct Negotiation(PendingReply);

impl Negotiation {
    /// Waits for negotiation to complete, within [`DEFAULT_TIMEOUT`] (what a handshake may take).
    pub async fn wait(self) -> Result<(), QmpError> {
        match self.0.wait(DEFAULT_TIMEOUT).await {
            Ok(_) => Ok(()),
            Err(QmpError::Timeout { after, .. }) => Err(QmpError::HandshakeTimeout { after }),
            Err(err) => Err(err),
        }
    }
}

/// The `qmp_capabilities` line with `id`, asking for `capabilities` (none: a plain one).
fn capabilities_line(id: u64, capabilities: &[&str]) -> String {
    ClientCommand {
        execute: "qmp_capabilities".to_owned(),
        arguments: (!capabilities.is_empty())
            .then(|| serde_json::json!({ "enable": capabilities })),
        id: Some(id.into()),
    }
    .to_line()
}

/// The id of the `qmp_capabilities` a handshake writes before it reads the greeting.
const EARLY_CAPABILITIES_ID: u64 = 1;

impl QmpClient {
    /// Connects to a QMP Unix socket, reads the greeting and enters command mode.
    ///
    /// The handshake is bounded by [`DEFAULT_TIMEOUT`].
    pub async fn connect(path: impl AsRef<Path>) -> Result<QmpClient, QmpError> {
        Self::connect_with_timeout(path, DEFAULT_TIMEOUT).await
    }

    /// Like [`connect`](Self::connect), giving up after `timeout` for connect plus handshake.
    pub async fn connect_with_timeout(
        path: impl AsRef<Path>,
        timeout: Duration,
    ) -> Result<QmpClient, QmpError> {
        Self::connect_with_capabilities(path, timeout, &[]).await
    }

    /// Like [`connect_with_timeout`](Self::connect_with_timeout), asking the server to enable
    /// `capabilities` as well (`qmp_capabilities` with `enable`).
    ///
    /// A server that refuses them (QEMU itself refuses capabilities it does not know) is
    /// negotiated with again without them, so this never fails where a plain connect works;
    /// whether they were enabled shows in what the server then allows.
    pub async fn connect_with_capabilities(
        path: impl AsRef<Path>,
        timeout: Duration,
        capabilities: &[&str],
    ) -> Result<QmpClient, QmpError> {
        let path = path.as_ref();
        let work = async {
            let stream = UnixStream::connect(path)
                .await
                .map_err(|source| QmpError::Connect {
                    path: path.to_owned(),
                    source,
                })?;
            Self::handshake(stream, capabilities).await
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| QmpError::HandshakeTimeout { after: timeout })?
    }

    /// Performs the handshake on an already connected stream (bounded by [`DEFAULT_TIMEOUT`]).
    pub async fn from_stream(stream: UnixStream) -> Result<QmpClient, QmpError> {
        tokio::time::timeout(DEFAULT_TIMEOUT, Self::handshake(stream, &[]))
            .await
            .map_err(|_| QmpError::HandshakeTimeout {
                after: DEFAULT_TIMEOUT,
            })?
    }

    /// Like [`from_stream`](Self::from_stream), without waiting for negotiation: the
    /// `qmp_capabilities` is written before the greeting is read, and commands sent with
    /// [`send`](Self::send) as soon as this returns follow it on the wire. QEMU runs one
    /// connection's commands in order, so they run right after negotiation, and the first
    /// answers cost one round trip instead of two. The greeting read is bounded by
    /// [`DEFAULT_TIMEOUT`], as is [`Negotiation::wait`].
    pub async fn from_stream_pipelined(
        stream: UnixStream,
    ) -> Result<(QmpClient, Negotiation), QmpError> {
        let (read, mut write) = stream.into_split();
        let early = capabilities_line(EARLY_CAPABILITIES_ID, &[]);
        write
            .write_all(early.as_bytes())
            .await
            .map_err(QmpError::Io)?;
        let mut reader = MessageReader::new(read);
        let greeting = tokio::time::timeout(DEFAULT_TIMEOUT, read_greeting(&mut reader))
            .await
            .map_err(|_| QmpError::HandshakeTimeout {
                after: DEFAULT_TIMEOUT,
            })??;
        let pending = Arc::new(PendingReplies::default());
        let reply = pending.register(EARLY_CAPABILITIES_ID)?;
        let client = Self::start(greeting, reader, write, pending.clone());
        let negotiation = Negotiation(PendingReply {
            pending,
            id: EARLY_CAPABILITIES_ID,
            command: "qmp_capabilities".to_owned(),
            reply: Some(reply),
        });
        Ok((client, negotiation))
    }

    /// Reads the greeting and negotiates. The first `qmp_capabilities` is written before the
    /// greeting is read (a QMP server reads it after sending its greeting), so greeting and
    /// answer come back together: one round trip, not two.
    async fn handshake(stream: UnixStream, capabilities: &[&str]) -> Result<QmpClient, QmpError> {
        let (read, mut write) = stream.into_split();
        let early = capabilities_line(EARLY_CAPABILITIES_ID, capabilities);
        // A server that already closed shows in the greeting read, with the error it gave
        // before; the line is then sent the ordinary way, after the greeting.
        let wrote_early = write.write_all(early.as_bytes()).await.is_ok();
        let mut reader = MessageReader::new(read);
        let greeting = read_greeting(&mut reader).await?;
        let pending = Arc::new(PendingReplies::default());
        let early_reply = if wrote_early {
            Some(pending.register(EARLY_CAPABILITIES_ID)?)
        } else {
            None
        };
        let client = Self::start(greeting, reader, write, pending.clone());
        let first = match early_reply {
            Some(reply) => {
                PendingReply {
                    pending,
                    id: EARLY_CAPABILITIES_ID,
                    command: "qmp_capabilities".to_owned(),
                    reply: Some(reply),
                }
                .wait(DEFAULT_TIMEOUT)
                .await
            }
            None => {
                let enable = (!capabilities.is_empty())
                    .then(|| serde_json::json!({ "enable": capabilities }));
                client.execute("qmp_capabilities", enable).await
            }
        };
        match first {
            Ok(_) => return Ok(client),
            Err(QmpError::Command { desc, .. }) if !capabilities.is_empty() => {
                tracing::debug!(%desc, ?capabilities, "the QMP server refused the capabilities");
            }
            Err(err) => return Err(err),
        }
        client.execute("qmp_capabilities", None).await?;
        Ok(client)
    }

    fn start(
        greeting: Greeting,
        reader: MessageReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
        pending: Arc<PendingReplies>,
    ) -> QmpClient {
        let (events_tx, events_rx) = broadcast::channel(EVENT_CAPACITY);
        let (closed_tx, closed_rx) = watch::channel(false);
        let closed_tx = Arc::new(closed_tx);
        let (outgoing_tx, outgoing_rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(
            reader,
            pending.clone(),
            events_tx,
            closed_tx.clone(),
        ));
        tokio::spawn(write_loop(writer, outgoing_rx, pending.clone(), closed_tx));
        let shared = Shared {
            greeting,
            outgoing: outgoing_tx,
            pending,
            next_id: AtomicU64::new(EARLY_CAPABILITIES_ID + 1),
            events: Mutex::new(events_rx),
            closed: closed_rx,
            reader: reader.abort_handle(),
        };
        QmpClient {
            shared: Arc::new(shared),
            default_timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The server's greeting: QEMU version and capabilities.
    pub fn greeting(&self) -> &Greeting {
        &self.shared.greeting
    }

    /// Sets the reply timeout used by [`execute`](Self::execute) and the typed commands of this
    /// clone (default 30 s).
    pub fn set_default_timeout(&mut self, timeout: Duration) {
        self.default_timeout = timeout;
    }

    /// The reply timeout used by this clone.
    pub fn default_timeout(&self) -> Duration {
        self.default_timeout
    }

    /// Runs a command and returns its `return` value; a QEMU error becomes [`QmpError::Command`].
    pub async fn execute(
        &self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, QmpError> {
        self.execute_with_timeout(command, arguments, self.default_timeout)
            .await
    }

    /// Like [`execute`](Self::execute) with an explicit reply timeout.
    ///
    /// A reply that arrives after the timeout is dropped; the connection stays usable.
    pub async fn execute_with_timeout(
        &self,
        command: &str,
        arguments: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        self.send(command, arguments)?.wait(timeout).await
    }

    /// Sends a command now and returns its reply to await later, so that several commands
    /// can be on the wire at once (QEMU answers one connection's commands in order).
    pub fn send(&self, command: &str, arguments: Option<Value>) -> Result<PendingReply, QmpError> {
        let shared = &self.shared;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let reply = shared.pending.register(id)?;
        let pending = PendingReply {
            pending: shared.pending.clone(),
            id,
            command: command.to_owned(),
            reply: Some(reply),
        };
        let line = ClientCommand {
            execute: command.to_owned(),
            arguments,
            id: Some(id.into()),
        }
        .to_line();
        shared.outgoing.send(line).map_err(|_| QmpError::Closed)?;
        Ok(pending)
    }

    /// Runs a command and deserializes its `return` value into `T`.
    pub async fn execute_as<T: DeserializeOwned>(
        &self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<T, QmpError> {
        let value = self.execute(command, arguments).await?;
        serde_json::from_value(value).map_err(|source| QmpError::UnexpectedReply {
            command: command.to_owned(),
            source,
        })
    }

    /// Subscribes to events; every event received from now on goes to every subscriber.
    ///
    /// A subscriber that falls more than [`EVENT_CAPACITY`] events behind gets
    /// `RecvError::Lagged` and loses the oldest ones; the reader never waits for subscribers.
    /// `recv` returns `RecvError::Closed` after the connection ended and all events were read.
    pub fn events(&self) -> broadcast::Receiver<QmpEvent> {
        self.shared
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .resubscribe()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        *self.shared.closed.borrow() || self.shared.closed.has_changed().is_err()
    }

    /// Resolves when the connection ends (end of stream or I/O error).
    pub async fn closed(&self) {
        let mut closed = self.shared.closed.clone();
        // An error means the reader task is gone, which also means closed.
        let _ = closed.wait_for(|closed| *closed).await;
    }
}

/// Reads the server's greeting, the first message of a QMP connection.
///
/// A server that closes without reading the `qmp_capabilities` written before the greeting
/// resets the connection instead of ending it; that is the same closed connection.
async fn read_greeting(reader: &mut MessageReader<OwnedReadHalf>) -> Result<Greeting, QmpError> {
    let first = reader.next_message().await.map_err(|err| {
        if err.kind() == std::io::ErrorKind::ConnectionReset {
            QmpError::Closed
        } else {
            QmpError::Io(err)
        }
    })?;
    match first {
        None => Err(QmpError::Closed),
        Some(message) => match ServerMessage::from_value(message.map_err(QmpError::Protocol)?) {
            Ok(ServerMessage::Greeting(greeting)) => Ok(greeting),
            Ok(other) => Err(QmpError::Protocol(WireError::NotGreeting {
                found: other.kind(),
            })),
            Err(err) => Err(QmpError::Protocol(err)),
        },
    }
}

async fn read_loop(
    mut reader: MessageReader<OwnedReadHalf>,
    pending: Arc<PendingReplies>,
    events: broadcast::Sender<QmpEvent>,
    closed: Arc<watch::Sender<bool>>,
) {
    loop {
        let message = match reader.next_message().await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(err))) => {
                tracing::warn!(
                    error = &err as &dyn std::error::Error,
                    "skipping bad input from QMP"
                );
                continue;
            }
            Ok(None) => {
                tracing::debug!("QMP peer closed the connection");
                break;
            }
            Err(err) => {
                tracing::warn!(
                    error = &err as &dyn std::error::Error,
                    "reading from QMP failed; closing"
                );
                break;
            }
        };
        match ServerMessage::from_value(message) {
            Ok(ServerMessage::Return { id, ret }) => pending.resolve(id, Reply::Return(ret)),
            Ok(ServerMessage::Error { id, class, desc }) => {
                pending.resolve(id, Reply::Error { class, desc })
            }
            // No subscriber is fine: the event is simply not kept.
            Ok(ServerMessage::Event(event)) => drop(events.send(event)),
            Ok(ServerMessage::Greeting(_)) => tracing::warn!("ignoring a second QMP greeting"),
            Err(err) => {
                tracing::warn!(
                    error = &err as &dyn std::error::Error,
                    "skipping a bad QMP message"
                );
            }
        }
    }
    pending.close();
    closed.send_replace(true);
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut outgoing: mpsc::UnboundedReceiver<String>,
    pending: Arc<PendingReplies>,
    closed: Arc<watch::Sender<bool>>,
) {
    while let Some(line) = outgoing.recv().await {
        if let Err(err) = writer.write_all(line.as_bytes()).await {
            tracing::warn!(
                error = &err as &dyn std::error::Error,
                "writing to QMP failed; closing"
            );
            pending.close();
            closed.send_replace(true);
            return;
        }
    }
    // Every client clone is gone: tell the peer we are done.
    drop(writer.shutdown().await);
}
