//! Command results: a JSON document plus an optional human rendering.

use std::borrow::Cow;
use std::fmt;
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

    /// The pretty-printed JSON document written straight from the result, without building
    /// its `serde_json::Value` first; `None` (the default) goes through the value.
    ///
    /// Only for types whose direct serialization is byte for byte that of their value: no
    /// `f32` fields (the value widens them to `f64`, which prints more digits) and no maps
    /// whose order the value would change. [`pretty_json`] is the usual body.
    fn json_text(&self) -> Option<String> {
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

    /// A program (argv) the CLI runs in place of itself with `--format auto`, so that it owns
    /// the terminal (`ssh`); `None` for ordinary results. Other callers get the document.
    fn exec_argv(&self) -> Option<Vec<String>> {
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
///
/// The JSON document and the human text are made only when asked for ([`Output::value`],
/// [`Output::human`]): `maqet ls` on a terminal prints its table without ever building the
/// JSON value of a thousand rows, and `--format json` never renders the table.
pub struct Output {
    body: Body,
    /// Raw streams and an exit code (see [`CommandOutput::passthrough`]).
    pub passthrough: Option<Passthrough>,
    /// A byte stream for the caller to attach (see [`CommandOutput::stream`]).
    pub stream: Option<ByteStream>,
    /// A program to run in place of the CLI (see [`CommandOutput::exec_argv`]).
    pub exec: Option<Vec<String>>,
}

/// The result itself, or its document and text made already.
enum Body {
    Result(Box<dyn Renders>),
    Made { value: Value, human: Option<String> },
}

/// A command result with its type erased: what [`Output`] asks of it.
trait Renders {
    fn human(&self) -> Option<String>;
    fn json_text(&self) -> Option<String>;
    fn value(&self) -> Value;
}

impl<T: CommandOutput> Renders for T {
    fn human(&self) -> Option<String> {
        CommandOutput::human(self)
    }

    fn json_text(&self) -> Option<String> {
        CommandOutput::json_text(self)
    }

    fn value(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(v) => v,
            Err(e) => Value::String(format!("<result could not be serialized: {e}>")),
        }
    }
}

impl Output {
    /// Converts a command result; its document and text are made when first asked for.
    pub fn new<T: CommandOutput + 'static>(result: T) -> Output {
        Output {
            passthrough: result.passthrough(),
            stream: result.stream(),
            exec: result.exec_argv(),
            body: Body::Result(Box::new(result)),
        }
    }

    /// An output whose document (and text, if any) is already made, e.g. by a plugin.
    pub fn from_value(value: Value, human: Option<String>) -> Output {
        Output {
            body: Body::Made { value, human },
            passthrough: None,
            stream: None,
            exec: None,
        }
    }

    /// The JSON document (`--format json`).
    pub fn value(&self) -> Cow<'_, Value> {
        match &self.body {
            Body::Result(result) => Cow::Owned(result.value()),
            Body::Made { value, .. } => Cow::Borrowed(value),
        }
    }

    /// The JSON document as pretty-printed text (`--format json`), written straight from the
    /// result when its type allows (see [`CommandOutput::json_text`]).
    pub fn json_text(&self) -> String {
        if let Body::Result(result) = &self.body
            && let Some(text) = result.json_text()
        {
            return text;
        }
        let value = self.value();
        serde_json::to_string_pretty(&*value).unwrap_or_else(|_| value.to_string())
    }

    /// The JSON document, taken out of the output.
    pub fn into_value(self) -> Value {
        match self.body {
            Body::Result(result) => result.value(),
            Body::Made { value, .. } => value,
        }
    }

    /// The text shown by `--format auto`, when the command has one.
    pub fn human(&self) -> Option<Cow<'_, str>> {
        match &self.body {
            Body::Result(result) => result.human().map(Cow::Owned),
            Body::Made { human, .. } => human.as_deref().map(Cow::Borrowed),
        }
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("value", &self.value())
            .field("human", &self.human())
            .field("passthrough", &self.passthrough)
            .field("stream", &self.stream)
            .field("exec", &self.exec)
            .finish()
    }
}

/// `serde_json`'s pretty text of `result`, for [`CommandOutput::json_text`]; `None` if it
/// cannot be serialized (then the value path reports why).
pub fn pretty_json<T: Serialize + ?Sized>(result: &T) -> Option<String> {
    serde_json::to_string_pretty(result).ok()
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
