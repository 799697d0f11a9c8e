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

/// Formats an error and its causes as `error: cause: cause`, for a plugin's `Err(String)`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
