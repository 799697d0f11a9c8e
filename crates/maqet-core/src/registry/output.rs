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
}

/// What a command returned, ready for any output format.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The JSON document (`--format json`).
    pub value: Value,
    /// The text shown by `--format auto`, when the command has one.
    pub human: Option<String>,
}

impl Output {
    /// Converts a command result.
    pub fn new<T: CommandOutput>(result: T) -> Output {
        let human = result.human();
        let value = match serde_json::to_value(&result) {
            Ok(v) => v,
            Err(e) => Value::String(format!("<result could not be serialized: {e}>")),
        };
        Output { value, human }
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
