//! The QMP multiplexer: a QMP server on `qmp.sock` that forwards every client's commands over
//! the runner's one connection to QEMU and fans QEMU's events out to all clients.
//!
//! Each client gets a session as QEMU runs it (see [`super::qmp_session`]): the greeting of
//! the VM's QEMU (without `oob`, which the multiplexer does not implement), capability
//! negotiation, QEMU's own error replies, its `id` back verbatim whatever its JSON type, and
//! every event after negotiation. Commands pass the raw-QMP gate ([`maqet_runner::qmp_gate`])
//! unless the session opted in to dangerous commands.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use maqet_qmp::wire::{ClientCommand, Greeting, MessageReader, ServerMessage, WireError};
use maqet_qmp::{PendingReply, QmpClient, QmpError};
use maqet_runner::qmp_gate::AllowedDirs;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

use super::log::log;
use super::qmp_session::{Session, error_reply};

/// How many replies and events may wait for a slow client before the multiplexer stops
/// reading its commands (replies) or drops events for it.
const OUT_QUEUE: usize = 256;

/// Binds the multiplexer socket with mode 0600, replacing a stale file only if nobody answers on it.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another process serves {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// What every client's session shares.
pub struct MuxShared {
    /// The runner's connection to QEMU.
    pub qmp: QmpClient,
    /// The greeting line every client gets.
    pub greeting: String,
    /// The runner's uid: the VM's owner.
    pub own_uid: u32,
    /// The commands QEMU knows, once QEMU said (empty if it could not: then all are gated).
    pub known: KnownCommands,
    /// Where raw clients may make QEMU read and write.
    pub dirs: AllowedDirs,
    /// Clients being served now.
    pub clients: AtomicUsize,
}

/// Accepts clients forever, each served by its own task.
pub async fn serve(
    listener: UnixListener,
    qmp: QmpClient,
    dirs: AllowedDirs,
    known: KnownCommands,
) {
    // The multiplexer does not implement out-of-band execution, so it offers no capabilities.
    let greeting = ServerMessage::Greeting(Greeting {
        version: qmp.greeting().version.clone(),
        capabilities: Vec::new(),
    })
    .to_line();
    let shared = Arc::new(MuxShared {
        qmp,
        greeting,
        own_uid: rustix::process::geteuid().as_raw(),
        known,
        dirs,
        clients: AtomicUsize::new(0),
    });
    accept_forever(&listener, "QMP", |stream| {
        serve_client(stream, shared.clone())
    })
    .await;
}

/// Accepts clients of a runner socket for ever, serving each in a task of its own; a failed
/// accept is logged (naming the socket's `protocol`) and retried.
pub async fn accept_forever<F, Fut>(listener: &UnixListener, protocol: &str, mut serve: F)
where
    F: FnMut(UnixStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream));
            }
            Err(err) => {
                log!("accepting a {protocol} client failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The uid of a new client when it may use the socket (see [`peer_allowed`]); otherwise the
/// client is sent `refusal(reason)` and `None` is returned.
pub async fn admit_peer(
    stream: &mut UnixStream,
    own_uid: u32,
    protocol: &str,
    refusal: impl FnOnce(String) -> String,
) -> Option<u32> {
    let uid = match stream.peer_cred() {
        Ok(cred) => cred.uid(),
        Err(err) => {
            log!("cannot read a {protocol} client's credentials: {err}; refusing it");
            return None;
        }
    };
    if peer_allowed(uid, own_uid) {
        return Some(uid);
    }
    log!("refusing a {protocol} client with uid {uid}");
    let reason = format!(
        "permission denied: this VM belongs to uid {own_uid}, the client runs as uid {uid}"
    );
    drop(stream.write_all(refusal(reason).as_bytes()).await);
    None
}

/// QEMU's command list for the raw-QMP gate, fetched in the background: the multiplexer
/// serves clients before it arrives, and only a raw client's command waits for it.
#[derive(Debug, Clone)]
pub struct KnownCommands(watch::Receiver<Option<Arc<HashSet<String>>>>);

impl KnownCommands {
    /// Awaits `reply` (a `query-commands` already sent) in a task of its own; the reply is
    /// bounded by [`maqet_qmp::DEFAULT_TIMEOUT`], so the list is settled within that.
    pub fn fetch(reply: Result<PendingReply, QmpError>) -> Self {
        let (sender, receiver) = watch::channel(None);
        tokio::spawn(async move {
            let reply = match reply {
                Ok(reply) => reply.wait(maqet_qmp::DEFAULT_TIMEOUT).await,
                Err(err) => Err(err),
            };
            sender.send_replace(Some(Arc::new(command_names(reply))));
        });
        Self(receiver)
    }

    /// The names of the commands QEMU offers, waiting at most [`LIST_WAIT`] for the list:
    /// empty (then every command is gated) when QEMU could not say.
    pub async fn get(&self) -> Arc<HashSet<String>> {
        let mut receiver = self.0.clone();
        match tokio::time::timeout(LIST_WAIT, receiver.wait_for(Option::is_some)).await {
            Ok(Ok(known)) => known.clone().unwrap_or_default(),
            _ => Arc::default(),
        }
    }
}

/// The longest a raw client's command waits for QEMU's command list. The fetch is bounded by
/// the same time and began before any client could connect, so this is only a safety net.
const LIST_WAIT: Duration = maqet_qmp::DEFAULT_TIMEOUT;

/// The names in a `query-commands` reply (empty when there is none: then every command is
/// gated).
fn command_names(reply: Result<Value, QmpError>) -> HashSet<String> {
    match reply {
        Ok(Value::Array(list)) => list
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect(),
        other => {
            log!("cannot list QEMU's QMP commands ({other:?}); gating every raw command");
            HashSet::new()
        }
    }
}

/// Whether a peer of `uid` may use the socket of a runner running as `own_uid`.
pub fn peer_allowed(uid: u32, own_uid: u32) -> bool {
    uid == own_uid || uid == 0
}

async fn serve_client(mut stream: UnixStream, shared: Arc<MuxShared>) {
    let own_uid = shared.own_uid;
    let Some(uid) = admit_peer(&mut stream, own_uid, "QMP", |reason| {
        error_reply(None, "GenericError", reason)
    })
    .await
    else {
        return;
    };
    shared.clients.fetch_add(1, Ordering::Relaxed);
    let (read, mut write) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::channel::<String>(OUT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let mut session = Session::new(shared.clone(), uid == own_uid, out_tx.clone());
    if out_tx.send(shared.greeting.clone()).await.is_ok() {
        let mut reader = MessageReader::new(read);
        while let Ok(Some(message)) = reader.next_message().await {
            let reply = match message {
                Err(WireError::Json { desc }) => Some(error_reply(None, "GenericError", desc)),
                Err(other) => Some(error_reply(None, "GenericError", other.to_string())),
                Ok(request) => match ClientCommand::from_request(request) {
                    Err(bad) => Some(error_reply(bad.id, "GenericError", bad.desc)),
                    Ok(command) => session.handle(command).await,
                },
            };
            if let Some(reply) = reply
                && out_tx.send(reply).await.is_err()
            {
                break;
            }
        }
    }
    session.end();
    drop(out_tx);
    drop(writer.await);
    if shared.clients.fetch_sub(1, Ordering::Relaxed) == 1 {
        // The last client left: what the sessions allocated is free again.
        super::heap::return_free_heap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_and_root_may_connect() {
        assert!(peer_allowed(1000, 1000));
        assert!(peer_allowed(0, 1000));
        assert!(!peer_allowed(65534, 1000));
        assert!(!peer_allowed(1001, 1000));
        assert!(peer_allowed(0, 0));
        assert!(!peer_allowed(65534, 0));
    }
}
