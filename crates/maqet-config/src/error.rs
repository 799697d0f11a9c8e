//! What can go wrong with a config, and where.

use std::fmt;
use std::path::PathBuf;

use crate::yaml::Position;

/// Where a config value came from, for error messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The config file.
    pub file: Option<PathBuf>,
    /// Line and column inside it.
    pub position: Option<Position>,
    /// The command-line option or API argument that gave it.
    pub option: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, &self.position, &self.option) {
            (Some(file), Some(p), _) => write!(f, "{}:{}:{}", file.display(), p.line, p.column),
            (Some(file), None, _) => write!(f, "{}", file.display()),
            (None, _, Some(opt)) => write!(f, "option --{opt}"),
            (None, Some(p), None) => write!(f, "line {}:{}", p.line, p.column),
            (None, None, None) => f.write_str("merged config"),
        }
    }
}

/// A config could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than maqet accepts ([`yaml::MAX_CONFIG_BYTES`]).
    #[error("config file {} is larger than the limit of 1 MiB; maqet stopped reading it there", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The path is not a regular file (a FIFO, a device, a directory...).
    #[error("config file {} is {what}, not a regular file; give the path of a YAML file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// The file could be changed by another user, and it sets what maqet runs.
    #[error("refusing config file {}: it sets `binary`, and {reason}", path.display())]
    Untrusted {
        /// The config file.
        path: PathBuf,
        /// Which file or directory is not safe and why.
        reason: crate::trust::Untrusted,
    },
    /// The YAML does not parse.
    #[error("{location}: invalid YAML: {message}")]
    Syntax {
        /// Where the parser stopped.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// A value breaks a rule.
    #[error("{location}: `{field}`: {message}")]
    Invalid {
        /// Where the value is.
        location: Location,
        /// The key path (`storage[1].size`).
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The `storage` list is invalid.
    #[error("{location}: invalid drive")]
    Storage {
        /// Where the drive is.
        location: Location,
        /// What the storage layer found.
        #[source]
        source: Box<maqet_storage::StorageError>,
    },
}
