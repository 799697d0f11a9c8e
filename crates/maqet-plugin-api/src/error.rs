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
        /// The kind of failure the plugin gave (`Failure` for plain text).
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

/// An error message reported by a plugin, with the plugin's causes as its source chain (so
/// maqet prints each on its own `caused by:` line, as it does for its own errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PluginMessage(pub String, #[source] pub Option<Box<PluginMessage>>);

impl PluginMessage {
    /// `message` caused by `causes` (outermost first).
    pub fn chain(message: String, causes: Vec<String>) -> PluginMessage {
        let source = causes.into_iter().rev().fold(None, |inner, cause| {
            Some(Box::new(PluginMessage(cause, inner)))
        });
        PluginMessage(message, source)
    }
}

/// Formats an error and its causes as `error: cause: cause`, for a plugin's `Err(String)`
/// (maqet's one formatter, re-exported so a plugin needs no other maqet crate).
pub use maqet_error_chain::error_chain;

/// The kind of a plugin command's failure; maqet turns it into its exit code
/// (see docs/exit-codes.md). The same type crosses the library boundary (`repr(u8)`).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, abi_stable::StableAbi)]
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

/// Why a plugin command failed: its kind (maqet's exit code) and the message, the error value
/// of [`Plugin::invoke`](crate::Plugin::invoke). Text converts into it with kind `Failure`, so
/// `Err("...".into())` and `?` on a `Result<_, String>` work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailure {
    /// What kind of failure it is.
    pub kind: ErrorKind,
    /// What the plugin says.
    pub message: String,
    /// The causes of `message`, outermost first; they cross the library boundary as a list,
    /// so maqet prints them as it prints the causes of its own errors.
    pub causes: Vec<String>,
}

impl CommandFailure {
    /// A failure of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CommandFailure {
            kind,
            message: message.into(),
            causes: Vec::new(),
        }
    }
}

impl From<String> for CommandFailure {
    fn from(message: String) -> Self {
        CommandFailure::new(ErrorKind::Failure, message)
    }
}

impl From<&str> for CommandFailure {
    fn from(message: &str) -> Self {
        CommandFailure::new(ErrorKind::Failure, message)
    }
}

impl std::fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        for cause in &self.causes {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

/// `error` and its causes as a failure of `kind`: maqet then exits with that kind's code
/// instead of 1, and prints the causes on their own lines.
pub fn error_with_kind(kind: ErrorKind, error: &dyn std::error::Error) -> CommandFailure {
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    CommandFailure {
        kind,
        message: error.to_string(),
        causes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_its_kind_and_text_becomes_a_plain_failure() {
        let error = PluginMessage::chain("no such pool".into(), vec!["libvirt said so".into()]);
        let failure = error_with_kind(ErrorKind::InvalidInput, &error);
        assert_eq!(
            (
                failure.kind,
                failure.message.as_str(),
                failure.causes.as_slice()
            ),
            (
                ErrorKind::InvalidInput,
                "no such pool",
                &["libvirt said so".to_owned()][..]
            )
        );
        assert_eq!(failure.to_string(), "no such pool: libvirt said so");
        assert_eq!(error_chain(&error), "no such pool: libvirt said so");
        assert_eq!(
            CommandFailure::from("plain"),
            CommandFailure::new(ErrorKind::Failure, "plain")
        );
    }
}
