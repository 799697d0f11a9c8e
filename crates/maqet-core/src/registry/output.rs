//! Command results: a JSON document plus an optional human rendering.

use std::os::unix::net::UnixStream;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

/// A command's result type: serializes to the documented JSON shape and may render itself for
/// people (`--format auto`).
pub trait CommandOutput: Serialize {
    /// Text for a terminal; `None` prints the JSON document instead.
    fn human(&self) -> Option<String> {
        None
    }

    /// Bytes for the caller's own stdout/stderr and the exit code the CLI should end with
    /// (`exec` passes the guest command's through); `None` for ordinary results.
    fn passthrough(&self) -> Option<Passthrough> {
        None
    }

    /// A two-way byte stream the caller connects to its own input and output (the serial
    /// console); `None` for ordinary results.
    fn stream(&self) -> Option<ByteStream> {
        None
    }
}

/// A connected two-way byte stream a command hands to its caller, which decides how to show
/// it (the CLI attaches a terminal in raw mode).
#[derive(Debug, Clone)]
pub struct ByteStream {
    /// What the stream is connected to, for messages (`the console of web`).
    pub label: String,
    stream: Arc<UnixStream>,
}

impl ByteStream {
    /// Wraps a connected socket.
    pub fn new(label: impl Into<String>, stream: UnixStream) -> ByteStream {
        ByteStream {
            label: label.into(),
            stream: Arc::new(stream),
        }
    }

    /// A handle on the socket, for reading or writing from its own thread.
    pub fn handle(&self) -> std::io::Result<UnixStream> {
        self.stream.try_clone()
    }
}

impl PartialEq for ByteStream {
    fn eq(&self, other: &ByteStream) -> bool {
        Arc::ptr_eq(&self.stream, &other.stream)
    }
}

/// What a command hands straight to the CLI's streams, and the exit code it asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Passthrough {
    /// Written to stdout as they are (`--format auto`).
    pub stdout: Vec<u8>,
    /// Written to stderr as they are (`--format auto`).
    pub stderr: Vec<u8>,
    /// The CLI's exit code, in every output format.
    pub exit_code: i32,
}

/// What a command returned, ready for any output format.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The JSON document (`--format json`).
    pub value: Value,
    /// The text shown by `--format auto`, when the command has one.
    pub human: Option<String>,
    /// Raw streams and an exit code (see [`CommandOutput::passthrough`]).
    pub passthrough: Option<Passthrough>,
    /// A byte stream for the caller to attach (see [`CommandOutput::stream`]).
    pub stream: Option<ByteStream>,
}

impl Output {
    /// Converts a command result.
    pub fn new<T: CommandOutput>(result: T) -> Output {
        let human = result.human();
        let passthrough = result.passthrough();
        let stream = result.stream();
        let value = match serde_json::to_value(&result) {
            Ok(v) => v,
            Err(e) => Value::String(format!("<result could not be serialized: {e}>")),
        };
        Output {
            value,
            human,
            passthrough,
            stream,
        }
    }
}

impl CommandOutput for () {
    fn human(&self) -> Option<String> {
        Some(String::new())
    }
}

impl CommandOutput for Value {}

impl CommandOutput for String {
    fn human(&self) -> Option<String> {
        Some(self.clone())
    }
}
