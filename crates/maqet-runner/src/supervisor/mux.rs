//! The QMP multiplexer: a QMP server on `qmp.sock` that forwards every client's commands over
//! the runner's one connection to QEMU and fans QEMU's events out to all clients.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use maqet_qmp::wire::{ClientCommand, Greeting, LineReader, ServerMessage};
use maqet_qmp::{QmpClient, QmpError};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc};

use super::log::log;

/// How long a forwarded command may take (long jobs like `savevm` are synchronous in QEMU).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

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

/// Accepts clients forever, each served by its own task.
pub async fn serve(listener: UnixListener, qmp: QmpClient) {
    // The multiplexer does not implement out-of-band execution, so it offers no capabilities.
    let greeting = ServerMessage::Greeting(Greeting {
        version: qmp.greeting().version.clone(),
        capabilities: Vec::new(),
    })
    .to_line();
    let own_uid = rustix::process::geteuid().as_raw();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_client(stream, qmp.clone(), greeting.clone(), own_uid));
            }
            Err(err) => {
                log!("accepting a QMP client failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Whether a peer of `uid` may use the socket of a runner running as `own_uid`.
pub fn peer_allowed(uid: u32, own_uid: u32) -> bool {
    uid == own_uid || uid == 0
}

async fn serve_client(mut stream: UnixStream, qmp: QmpClient, greeting: String, own_uid: u32) {
    let uid = match stream.peer_cred() {
        Ok(cred) => cred.uid(),
        Err(err) => {
            log!("cannot read a QMP client's credentials: {err}; refusing it");
            return;
        }
    };
    if !peer_allowed(uid, own_uid) {
        log!("refusing a QMP client with uid {uid}");
        let refusal = error_reply(
            None,
            "GenericError",
            format!(
                "permission denied: this VM belongs to uid {own_uid}, the client runs as uid {uid}"
            ),
        );
        drop(stream.write_all(refusal.as_bytes()).await);
        return;
    }
    let (read, mut write) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let mut events: Option<tokio::task::JoinHandle<()>> = None;
    drop(out_tx.send(greeting));
    let mut reader = LineReader::new(read);
    while let Ok(Some(line)) = reader.next_line().await {
        let reply = match line
            .map_err(|e| e.to_string())
            .and_then(|line| ClientCommand::parse(&line).map_err(|e| e.to_string()))
        {
            Err(desc) => error_reply(None, "GenericError", desc),
            Ok(command) if events.is_none() => {
                if command.execute == "qmp_capabilities" {
                    // Subscribe before answering, so no event after the answer is missed.
                    let receiver = qmp.events();
                    let reply = return_reply(command.id, json!({}));
                    drop(out_tx.send(reply));
                    events = Some(tokio::spawn(forward_events(receiver, out_tx.clone())));
                    continue;
                }
                error_reply(
                    command.id,
                    "CommandNotFound",
                    "Expecting capabilities negotiation with 'qmp_capabilities'".into(),
                )
            }
            Ok(command) if command.execute == "qmp_capabilities" => error_reply(
                command.id,
                "CommandNotFound",
                "Capabilities negotiation is already complete, command ignored".into(),
            ),
            Ok(command) => forward(&qmp, command).await,
        };
        if out_tx.send(reply).is_err() {
            break;
        }
    }
    if let Some(events) = events {
        events.abort();
    }
    drop(out_tx);
    drop(writer.await);
}

async fn forward(qmp: &QmpClient, command: ClientCommand) -> String {
    let ClientCommand {
        execute,
        arguments,
        id,
    } = command;
    match qmp
        .execute_with_timeout(&execute, arguments, FORWARD_TIMEOUT)
        .await
    {
        Ok(ret) => return_reply(id, ret),
        Err(QmpError::Command { class, desc, .. }) => error_reply(id, &class, desc),
        // QEMU may close the connection before answering `quit`; it did quit.
        Err(QmpError::Closed) if execute == "quit" => return_reply(id, json!({})),
        Err(err) => error_reply(id, "GenericError", super::qemu::error_chain(&err)),
    }
}

async fn forward_events(
    mut events: broadcast::Receiver<maqet_qmp::QmpEvent>,
    out: mpsc::UnboundedSender<String>,
) {
    loop {
        match events.recv().await {
            Ok(event) => {
                if out.send(ServerMessage::Event(event).to_line()).is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                log!("a QMP client fell behind and missed {missed} events");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn return_reply(id: Option<Value>, ret: Value) -> String {
    ServerMessage::Return { id, ret }.to_line()
}

fn error_reply(id: Option<Value>, class: &str, desc: String) -> String {
    ServerMessage::Error {
        id,
        class: class.to_owned(),
        desc,
    }
    .to_line()
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

    #[test]
    fn replies_keep_the_clients_id_or_have_none() {
        let with = error_reply(Some(json!("abc")), "GenericError", "no".into());
        assert_eq!(
            serde_json::from_str::<Value>(&with).unwrap(),
            json!({"error": {"class": "GenericError", "desc": "no"}, "id": "abc"})
        );
        let without = return_reply(None, json!({}));
        assert_eq!(without, "{\"return\":{}}\r\n");
    }
}
