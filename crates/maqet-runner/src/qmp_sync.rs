//! A tiny blocking QMP exchange, for `stop` (which must work without an async runtime).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use maqet_qmp::wire::{ClientCommand, ServerMessage};
use serde_json::Value;

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
    let mut reader = BufReader::new(stream);
    match next_message(&mut reader)? {
        Some(ServerMessage::Greeting(_)) => {}
        _ => return Err(QmpFailure::Io(std::io::Error::other("no QMP greeting"))),
    }
    exchange(&mut reader, &mut writer, "qmp_capabilities", "maqet-cap")?;
    match exchange(&mut reader, &mut writer, command, "maqet-stop") {
        Err(QmpFailure::Io(err))
            if command == "quit" && err.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Ok(())
        }
        other => other,
    }
}

fn exchange(
    reader: &mut BufReader<UnixStream>,
    writer: &mut UnixStream,
    command: &str,
    id: &str,
) -> Result<(), QmpFailure> {
    let line = ClientCommand {
        execute: command.to_owned(),
        arguments: None,
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

fn next_message(reader: &mut BufReader<UnixStream>) -> Result<Option<ServerMessage>, QmpFailure> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(QmpFailure::Io)? == 0 {
            return Ok(None);
        }
        if let Ok(message) = ServerMessage::parse(line.trim_end().as_bytes()) {
            return Ok(Some(message));
        }
    }
}
