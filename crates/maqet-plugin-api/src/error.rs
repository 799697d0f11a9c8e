//! Errors of running a plugin command.

/// Running a plugin command failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin does not offer the command.
    #[error(
        "plugin `{plugin}` has no command `{command}`; run `maqet --help` to list plugin commands"
    )]
    UnknownCommand {
        /// The plugin's name.
        plugin: String,
        /// The command asked for.
        command: String,
    },
    /// The plugin ran the command and reported an error (or panicked).
    #[error("plugin `{plugin}` could not complete `{command}`")]
    CommandFailed {
        /// The plugin's name.
        plugin: String,
        /// The command that failed.
        command: String,
        /// The kind of failure the plugin gave with [`error_with_kind`] (else `Failure`).
        kind: ErrorKind,
        /// What the plugin said.
        #[source]
        source: PluginMessage,
    },
    /// The plugin's result was not JSON.
    #[error(
        "plugin `{plugin}` answered `{command}` with a result that is not JSON; report this to the plugin's author"
    )]
    InvalidResult {
        /// The plugin's name.
        plugin: String,
        /// The command that was run.
        command: String,
        /// The JSON parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// An error message reported by a plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PluginMessage(pub String);

/// Formats an error and its causes as `error: cause: cause`, for a plugin's `Err(String)`
/// (maqet's one formatter, re-exported so a plugin needs no other maqet crate).
pub use maqet_error_chain::error_chain;

/// The kind of a plugin command's failure; maqet turns it into its exit code
/// (see docs/exit-codes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// Bad input, something that does not exist, or a name already taken (exit 3).
    InvalidInput,
    /// Access refused (exit 4).
    PermissionDenied,
    /// A wait ran out of time (exit 2).
    Timeout,
    /// Anything else (exit 1).
    #[default]
    Failure,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid",
            Self::PermissionDenied => "permission-denied",
            Self::Timeout => "timeout",
            Self::Failure => "failure",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::InvalidInput,
            Self::PermissionDenied,
            Self::Timeout,
            Self::Failure,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// Marks the start and end of the kind in a plugin's error text (ASCII record separator).
const KIND_MARK: char = '\u{1e}';

/// Like [`error_chain`], with the kind of failure, for a plugin's `Err(String)`: maqet then
/// exits with that kind's code instead of 1. The marker travels inside the message text, so
/// the plugin interface is unchanged.
pub fn error_with_kind(kind: ErrorKind, error: &dyn std::error::Error) -> String {
    format!(
        "{KIND_MARK}{}{KIND_MARK}{}",
        kind.as_str(),
        error_chain(error)
    )
}

/// Splits a plugin's error text into its kind (when marked) and the message.
pub fn split_failure_kind(text: &str) -> (ErrorKind, &str) {
    let parsed = text.strip_prefix(KIND_MARK).and_then(|rest| {
        let (kind, message) = rest.split_once(KIND_MARK)?;
        Some((ErrorKind::parse(kind)?, message))
    });
    parsed.unwrap_or((ErrorKind::Failure, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_kind_is_split_from_the_message() {
        let error = PluginMessage("no such pool".into());
        let text = error_with_kind(ErrorKind::InvalidInput, &error);
        assert_eq!(
            split_failure_kind(&text),
            (ErrorKind::InvalidInput, "no such pool")
        );
        assert_eq!(split_failure_kind("plain"), (ErrorKind::Failure, "plain"));
    }
}
