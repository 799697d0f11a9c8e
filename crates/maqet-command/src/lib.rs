//! maqet's command model, defined once for every side that describes commands: the core
//! registry (`#[api_method]`), the CLI's command tree, and plugins, whose command descriptions
//! cross a dynamic-library boundary.
//!
//! - [`ParamKind`]: what kind of value a parameter takes.
//! - [`CommandSpec`] / [`ParamSpec`]: a command and its parameters as the CLI shows them; their
//!   FFI-safe forms are [`ffi::CommandSpecFfi`] / [`ffi::ParamSpecFfi`].
//! - [`FromArg`], [`Args`], [`Request`], [`Choice`]: typed arguments, read from a call's JSON
//!   with the same refusals ([`ArgError`]) for built-in and plugin commands.
//! - [`duration`]: the one reader of durations (`30`, `1.5`, `2m`).
//!
//! [`ParamKind`] says what kind of value a parameter takes; it is `repr(u8)` and derives
//! `StableAbi`, so the same enum is part of the plugin interface (a change to it is a change of
//! `maqet_plugin_api::INTERFACE_VERSION`). It serializes in kebab-case (`"key-values"`), as the
//! Python binding's `commands()` shows it.
//!
//! ```
//! use maqet_command::ParamKind;
//!
//! assert_eq!(ParamKind::Duration.takes_value(), true);
//! assert_eq!(ParamKind::Bool.takes_value(), false);
//! ```

mod args;
pub mod duration;
pub mod ffi;
mod spec;

use abi_stable::StableAbi;
use serde::{Deserialize, Serialize};

pub use args::{ArgError, Args, Choice, FromArg, Request, choice_from_json, duration_from_json};
pub use duration::DurationError;
pub use spec::{CommandSpec, ParamSpec};

/// The JSON library arguments arrive in, for the code `#[derive(Request)]` writes.
#[doc(hidden)]
pub use serde_json;

/// What kind of value a command parameter takes on the command line and in JSON.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, StableAbi)]
#[serde(rename_all = "kebab-case")]
pub enum ParamKind {
    /// A string.
    String,
    /// A flag without value (`--force`); a JSON bool.
    Bool,
    /// An integer.
    Int,
    /// A floating-point number.
    Float,
    /// A duration: a number of seconds (`30`, `1.5`) or a number with units (`2m`, `500ms`).
    Duration,
    /// A size in bytes: `4G`, `512M`, or a plain number of bytes.
    ByteSize,
    /// A filesystem path; relative paths are taken against the caller's working directory.
    Path,
    /// Zero or more strings (repeatable flag, or a positional list); a JSON array.
    List,
    /// Free `--KEY VALUE` pairs (QMP arguments, device properties); a JSON object. Values parse
    /// as JSON when they can, else they are strings.
    KeyValues,
    /// VM config keys as flags (`--memory 4G --cpu 2`), one flag per declared config key.
    ConfigKeys,
}

impl ParamKind {
    /// Whether the flag takes a value on the command line (every kind but [`ParamKind::Bool`]).
    pub fn takes_value(self) -> bool {
        self != ParamKind::Bool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_in_kebab_case() {
        let names: Vec<String> = [ParamKind::KeyValues, ParamKind::ByteSize, ParamKind::List]
            .iter()
            .map(|k| serde_json::to_string(k).unwrap_or_default())
            .collect();
        assert_eq!(names, ["\"key-values\"", "\"byte-size\"", "\"list\""]);
    }
}
