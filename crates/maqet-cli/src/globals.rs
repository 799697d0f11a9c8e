//! The global options (`--format`, `-v`, the directories, ...): one table that the pre-scan,
//! the clap tree, the invoker and `docs/cli-reference.md` all read.

use maqet_core::registry::Choice;

use crate::output::Format;

/// How a global option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalKind {
    /// One value (`--format json`).
    Value,
    /// Repeatable, each with a value (`--plugin-dir A --plugin-dir B`).
    Append,
    /// Counted flag (`-vv`).
    Count,
    /// Prints the version and exits.
    Version,
}

/// One global option.
#[derive(Debug)]
pub struct GlobalOption {
    /// clap id (also the long name).
    pub long: &'static str,
    /// Short flag.
    pub short: Option<char>,
    /// How it takes values.
    pub kind: GlobalKind,
    /// Placeholder shown in help.
    pub value_name: Option<&'static str>,
    /// Accepted values, when the set is closed.
    pub choices: &'static [&'static str],
    /// Value when not given.
    pub default: Option<&'static str>,
    /// Help text.
    pub help: &'static str,
    /// Read before the command tree is built (it decides where maqet looks for things).
    pub early: bool,
}

/// `--format`.
pub const FORMAT: &str = "format";
/// `-v`.
pub const VERBOSE: &str = "verbose";
/// `--log-file`.
pub const LOG_FILE: &str = "log-file";
/// `--maqet-data-dir`.
pub const DATA_DIR: &str = "maqet-data-dir";
/// `--maqet-config-dir`.
pub const CONFIG_DIR: &str = "maqet-config-dir";
/// `--maqet-runtime-dir`.
pub const RUNTIME_DIR: &str = "maqet-runtime-dir";
/// `--plugin-dir`.
pub const PLUGIN_DIR: &str = "plugin-dir";
/// `--version`.
pub const VERSION: &str = "version";

/// Every global option, in the order help lists them.
pub const GLOBAL_OPTIONS: &[GlobalOption] = &[
    GlobalOption {
        long: FORMAT,
        short: None,
        kind: GlobalKind::Value,
        value_name: Some("FORMAT"),
        choices: <Format as Choice>::CHOICES,
        default: Some("auto"),
        help: "Output format; with json or yaml, stdout holds only the document",
        early: false,
    },
    GlobalOption {
        long: VERBOSE,
        short: Some('v'),
        kind: GlobalKind::Count,
        value_name: None,
        choices: &[],
        default: None,
        help: "More log output on stderr (-v info, -vv debug, -vvv trace)",
        early: false,
    },
    GlobalOption {
        long: LOG_FILE,
        short: None,
        kind: GlobalKind::Value,
        value_name: Some("PATH"),
        choices: &[],
        default: None,
        help: "Also write a debug log to this file",
        early: false,
    },
    GlobalOption {
        long: DATA_DIR,
        short: None,
        kind: GlobalKind::Value,
        value_name: Some("DIR"),
        choices: &[],
        default: None,
        help: "Data directory (default ~/.local/share/maqet)",
        early: true,
    },
    GlobalOption {
        long: CONFIG_DIR,
        short: None,
        kind: GlobalKind::Value,
        value_name: Some("DIR"),
        choices: &[],
        default: None,
        help: "Config directory (default ~/.config/maqet)",
        early: true,
    },
    GlobalOption {
        long: RUNTIME_DIR,
        short: None,
        kind: GlobalKind::Value,
        value_name: Some("DIR"),
        choices: &[],
        default: None,
        help: "Runtime directory (default $XDG_RUNTIME_DIR/maqet, else /tmp/maqet-UID)",
        early: true,
    },
    GlobalOption {
        long: PLUGIN_DIR,
        short: None,
        kind: GlobalKind::Append,
        value_name: Some("DIR"),
        choices: &[],
        default: None,
        help: "Also load plugins from this directory (repeatable)",
        early: true,
    },
    GlobalOption {
        long: VERSION,
        short: Some('V'),
        kind: GlobalKind::Version,
        value_name: None,
        choices: &[],
        default: None,
        help: "Print the version",
        early: false,
    },
];

/// The global option with this long name.
pub fn global(long: &str) -> Option<&'static GlobalOption> {
    GLOBAL_OPTIONS.iter().find(|g| g.long == long)
}

/// Whether the arguments (after the program name) are only a version request.
pub fn is_version_request(words: &[std::ffi::OsString]) -> bool {
    let Some(version) = global(VERSION) else {
        return false;
    };
    let [word] = words else {
        return false;
    };
    let long = format!("--{}", version.long);
    let short = version.short.map(|c| format!("-{c}"));
    *word == *long || short.is_some_and(|s| *word == *s)
}
