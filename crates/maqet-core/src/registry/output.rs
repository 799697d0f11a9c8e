//! Command results: a JSON document plus an optional human rendering.

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
}

impl Output {
    /// Converts a command result.
    pub fn new<T: CommandOutput>(result: T) -> Output {
        let human = result.human();
        let passthrough = result.passthrough();
        let value = match serde_json::to_value(&result) {
            Ok(v) => v,
            Err(e) => Value::String(format!("<result could not be serialized: {e}>")),
        };
        Output {
            value,
            human,
            passthrough,
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
