//! A scripted stand-in for QEMU's QMP socket, for unit tests.

use std::path::PathBuf;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::QmpClient;
use crate::wire::{ClientCommand, MessageReader, ServerMessage};

pub(crate) const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": ["oob"]}}"#;

/// A listening socket in a temporary directory.
pub(crate) struct FakeQemu {
    pub(crate) path: PathBuf,
    listener: UnixListener,
    _dir: tempfile::TempDir,
}

/// The server side of one accepted connection.
pub(crate) struct FakeConn {
    reader: MessageReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl FakeQemu {
    pub(crate) fn bind() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        Self {
            path,
            listener,
            _dir: dir,
        }
    }

    /// Accepts a connection without sending anything.
    pub(crate) async fn accept_raw(&self) -> FakeConn {
        let (stream, _) = self.listener.accept().await.unwrap();
        let (read, writer) = stream.into_split();
        FakeConn {
            reader: MessageReader::new(read),
            writer,
        }
    }

    /// Connects a client and completes the handshake from the server side.
    pub(crate) async fn connected_pair(&self) -> (QmpClient, FakeConn) {
        let server = async {
            let mut conn = self.accept_raw().await;
            conn.send(&format!("{GREETING}\r\n")).await;
            let caps = conn.recv().await;
            assert_eq!(caps.execute, "qmp_capabilities");
            conn.reply(&caps, json!({})).await;
            conn
        };
        let (client, conn) = tokio::join!(QmpClient::connect(&self.path), server);
        (client.unwrap(), conn)
    }
}

impl FakeConn {
    /// Writes raw bytes in one write.
    pub(crate) async fn send(&mut self, raw: &str) {
        self.writer.write_all(raw.as_bytes()).await.unwrap();
        self.writer.flush().await.unwrap();
    }

    /// The next command from the client, or `None` when the client closed the socket.
    pub(crate) async fn try_recv(&mut self) -> Option<ClientCommand> {
        let message = self.reader.next_message().await.unwrap()?.unwrap();
        Some(ClientCommand::from_request(message).unwrap())
    }

    /// The next command from the client.
    pub(crate) async fn recv(&mut self) -> ClientCommand {
        self.try_recv().await.expect("client closed the connection")
    }

    pub(crate) async fn reply(&mut self, to: &ClientCommand, ret: Value) {
        let msg = ServerMessage::Return {
            id: to.id.clone(),
            ret,
        };
        self.send(&msg.to_line()).await;
    }

    pub(crate) async fn reply_error(&mut self, to: &ClientCommand, class: &str, desc: &str) {
        let msg = ServerMessage::Error {
            id: to.id.clone(),
            class: class.into(),
            desc: desc.into(),
        };
        self.send(&msg.to_line()).await;
    }

    pub(crate) async fn event(&mut self, name: &str, data: Value) {
        let line =
            json!({"event": name, "data": data, "timestamp": {"seconds": 1, "microseconds": 5}});
        self.send(&format!("{line}\r\n")).await;
    }
}
