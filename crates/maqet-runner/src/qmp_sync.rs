//! A tiny blocking QMP exchange, for `stop` (which must work without an async runtime).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use maqet_qmp::wire::{ClientCommand, JsonDecoder, ServerMessage};
use serde_json::{Value, json};

use crate::qmp_gate::ALLOW_DANGEROUS_CAPABILITY;

/// The read side: the socket and the QMP stream decoder.
struct Reader {
    stream: UnixStream,
    decoder: JsonDecoder,
}

/// Why a blocking QMP command did not succeed.
#[derive(Debug)]
pub(crate) enum QmpFailure {
    /// Connecting, reading or writing failed (nobody serving, timeout, closed early).
    Io(std::io::Error),
    /// The server answered with an error.
    Refused { class: String, desc: String },
}

/// Connects, negotiates capabilities and runs one command without arguments.
///
/// For `quit`, the connection closing before the reply counts as success.
pub(crate) fn run_command(
    socket: &Path,
    command: &str,
    timeout: Duration,
) -> Result<(), QmpFailure> {
    let stream = UnixStream::connect(socket).map_err(QmpFailure::Io)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(QmpFailure::Io)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(QmpFailure::Io)?;
    let mut writer = stream.try_clone().map_err(QmpFailure::Io)?;
    let mut reader = Reader {
        stream,
        decoder: JsonDecoder::new(),
    };
    match next_message(&mut reader)? {
        Some(ServerMessage::Greeting(_)) => {}
        _ => return Err(QmpFailure::Io(std::io::Error::other("no QMP greeting"))),
    }
    // maqet's own `quit` passes the runner's gate; QEMU itself refuses the unknown
    // capability, and then plain negotiation follows.
    let enable = json!({ "enable": [ALLOW_DANGEROUS_CAPABILITY] });
    match exchange(
        &mut reader,
        &mut writer,
        "qmp_capabilities",
        Some(enable),
        "maqet-cap",
    ) {
        Err(QmpFailure::Refused { .. }) => {
            exchange(
                &mut reader,
                &mut writer,
                "qmp_capabilities",
                None,
                "maqet-cap",
            )?;
        }
        other => other?,
    }
    match exchange(&mut reader, &mut writer, command, None, "maqet-stop") {
        Err(QmpFailure::Io(err))
            if command == "quit" && err.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Ok(())
        }
        other => other,
    }
}

fn exchange(
    reader: &mut Reader,
    writer: &mut UnixStream,
    command: &str,
    arguments: Option<Value>,
    id: &str,
) -> Result<(), QmpFailure> {
    let line = ClientCommand {
        execute: command.to_owned(),
        arguments,
        id: Some(Value::String(id.to_owned())),
    }
    .to_line();
    writer.write_all(line.as_bytes()).map_err(QmpFailure::Io)?;
    loop {
        let Some(message) = next_message(reader)? else {
            return Err(QmpFailure::Io(std::io::ErrorKind::UnexpectedEof.into()));
        };
        match message {
            ServerMessage::Return {
                id: Some(Value::String(got)),
                ..
            } if got == id => return Ok(()),
            ServerMessage::Error {
                id: Some(Value::String(got)),
                class,
                desc,
            } if got == id => return Err(QmpFailure::Refused { class, desc }),
            _ => {} // events and foreign replies
        }
    }
}

fn next_message(reader: &mut Reader) -> Result<Option<ServerMessage>, QmpFailure> {
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(message) = reader.decoder.next_message() {
            if let Ok(message) = message.map(ServerMessage::from_value)
                && let Ok(message) = message
            {
                return Ok(Some(message));
            }
        }
        let read = reader.stream.read(&mut chunk).map_err(QmpFailure::Io)?;
        if read == 0 {
            return Ok(None);
        }
        reader.decoder.push(&chunk[..read]);
    }
}
