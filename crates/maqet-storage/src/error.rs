//! The crate's error type and its coarse classification.

use std::fmt;
use std::path::PathBuf;

/// Coarse class of a [`StorageError`], so callers can pick an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration, a name or an argument is invalid.
    InvalidInput,
    /// A file, image or snapshot does not exist.
    NotFound,
    /// A file or snapshot already exists.
    AlreadyExists,
    /// The operation is not possible for this kind of image.
    Unsupported,
    /// The image is locked by another process (usually a running QEMU).
    Busy,
    /// A filesystem operation failed.
    Io,
    /// `qemu-img` is missing, failed, timed out or printed something unexpected.
    Tool,
    /// A download failed (HTTP status, connection, cut short).
    Network,
    /// Downloaded or copied data is not what its digest says.
    Integrity,
}

/// Everything that can go wrong in maqet-storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A `storage:` entry is invalid; `config_path` locates it (e.g. `storage[1].size`).
    #[error("invalid storage setting at {config_path}: {reason}")]
    InvalidDrive {
        /// JSON-style location of the bad value, e.g. `storage[1].size`.
        config_path: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A size string could not be parsed.
    #[error(
        "invalid size '{input}': {reason}; use a whole number with an optional K, M, G or T suffix, e.g. 4G"
    )]
    InvalidSize {
        /// The text that was given.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A snapshot name was refused.
    #[error("invalid snapshot name '{name}': {reason}")]
    InvalidSnapshotName {
        /// The refused name.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The drives cannot be turned into QEMU arguments.
    #[error("cannot build QEMU arguments for drive '{drive}': {reason}")]
    DriveLayout {
        /// Drive name.
        drive: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// maqet refuses to create or write a file inside a system directory.
    #[error(
        "refusing to write {}: it is inside the system directory {}; keep drive images in the VM data directory or your home",
        path.display(), system_dir.display()
    )]
    UnsafeLocation {
        /// The refused path (normalised).
        path: PathBuf,
        /// The system directory it falls into.
        system_dir: PathBuf,
    },
    /// A drive image is missing and there is nothing to create it from.
    #[error(
        "drive '{drive}' has no image at {} and no size to create one; set `size:` (e.g. 10G) or `backing_file:`",
        path.display()
    )]
    MissingSize {
        /// Drive name.
        drive: String,
        /// Where the image was expected.
        path: PathBuf,
    },
    /// A file the operation needs does not exist.
    #[error("{} does not exist; check the path in the VM configuration", path.display())]
    FileNotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// The target file exists and maqet never overwrites it.
    #[error("{} already exists; maqet never overwrites an image, remove it or pick another path", path.display())]
    AlreadyExists {
        /// The existing path.
        path: PathBuf,
    },
    /// A snapshot with that name already exists.
    #[error("snapshot '{name}' already exists in {}; use overwrite to replace it", image.display())]
    SnapshotExists {
        /// Snapshot name.
        name: String,
        /// Image file.
        image: PathBuf,
    },
    /// The snapshot does not exist.
    #[error(
        "snapshot '{name}' not found; available snapshots: {}",
        list_or_none(available)
    )]
    SnapshotNotFound {
        /// The requested name.
        name: String,
        /// Names that do exist.
        available: Vec<String>,
    },
    /// The image format cannot hold internal snapshots.
    #[error(
        "drive '{drive}' is a {format} image, which cannot hold snapshots; only qcow2 images can"
    )]
    SnapshotUnsupported {
        /// Drive name or image path.
        drive: String,
        /// Its format.
        format: String,
    },
    /// Another process (usually the VM's QEMU) holds the image lock.
    #[error("{} is in use by another process (a running VM?); stop the VM first or use a live snapshot", path.display())]
    ImageInUse {
        /// The locked image.
        path: PathBuf,
        /// What qemu-img printed.
        #[source]
        source: ToolStderr,
    },
    /// The external tool is not installed.
    #[error("{tool} was not found; install the `{package}` package (or configure the binary path)")]
    ToolMissing {
        /// Binary that was looked for.
        tool: String,
        /// Debian package that provides it.
        package: &'static str,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// The external tool failed.
    #[error("{tool} could not {operation} {}; its own message below says why", path.display())]
    ToolFailed {
        /// Binary that ran.
        tool: String,
        /// What it was asked to do (e.g. "create").
        operation: &'static str,
        /// The image concerned.
        path: PathBuf,
        /// What the tool printed on stderr.
        #[source]
        source: ToolStderr,
    },
    /// The external tool did not finish in time and was killed.
    #[error("{tool} did not {operation} {} within {seconds} s and was stopped; check the disk and retry", path.display())]
    ToolTimeout {
        /// Binary that ran.
        tool: String,
        /// What it was asked to do.
        operation: &'static str,
        /// The image concerned.
        path: PathBuf,
        /// The time limit.
        seconds: u64,
    },
    /// The tool's JSON output could not be read.
    #[error("could not read the output of {tool} for {}; is it QEMU 7 or newer?", path.display())]
    ToolOutput {
        /// Binary that ran.
        tool: String,
        /// The image concerned.
        path: PathBuf,
        /// The decode error.
        #[source]
        source: serde_json::Error,
    },
    /// Fetching, listing or removing a cached image failed.
    #[error(transparent)]
    Image(Box<crate::images::ImageError>),
    /// A filesystem operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was attempted (e.g. "create directory").
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// Coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidDrive { .. }
            | Self::InvalidSize { .. }
            | Self::InvalidSnapshotName { .. }
            | Self::DriveLayout { .. }
            | Self::UnsafeLocation { .. }
            | Self::MissingSize { .. } => ErrorKind::InvalidInput,
            Self::FileNotFound { .. } | Self::SnapshotNotFound { .. } => ErrorKind::NotFound,
            Self::AlreadyExists { .. } | Self::SnapshotExists { .. } => ErrorKind::AlreadyExists,
            Self::SnapshotUnsupported { .. } => ErrorKind::Unsupported,
            Self::ImageInUse { .. } => ErrorKind::Busy,
            Self::Io { .. } => ErrorKind::Io,
            Self::ToolMissing { .. }
            | Self::ToolFailed { .. }
            | Self::ToolTimeout { .. }
            | Self::ToolOutput { .. } => ErrorKind::Tool,
            Self::Image(err) => err.kind(),
        }
    }

    /// The config location (e.g. `storage[1].size`) for configuration errors.
    pub fn config_path(&self) -> Option<&str> {
        match self {
            Self::InvalidDrive { config_path, .. } => Some(config_path),
            _ => None,
        }
    }

    pub(crate) fn invalid(config_path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidDrive {
            config_path: config_path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<crate::images::ImageError> for StorageError {
    fn from(err: crate::images::ImageError) -> Self {
        Self::Image(Box::new(err))
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// What an external tool printed on stderr, kept as the source of a [`StorageError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolStderr(pub String);

impl fmt::Display for ToolStderr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.trim();
        if text.is_empty() {
            f.write_str("(no error output)")
        } else {
            f.write_str(text)
        }
    }
}

impl std::error::Error for ToolStderr {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_failed_and_what_to_do() {
        let lock = ToolStderr("qemu-img: Failed to get \"write\" lock".to_owned());
        let errors = [
            StorageError::UnsafeLocation {
                path: "/etc/x.qcow2".into(),
                system_dir: "/etc".into(),
            },
            StorageError::MissingSize {
                drive: "hdd".into(),
                path: "/vms/demo/hdd.qcow2".into(),
            },
            StorageError::SnapshotUnsupported {
                drive: "data".into(),
                format: "raw".into(),
            },
            StorageError::SnapshotNotFound {
                name: "s9".into(),
                available: vec!["s1".into(), "s2".into()],
            },
            StorageError::ImageInUse {
                path: "/vms/a.qcow2".into(),
                source: lock.clone(),
            },
            StorageError::ToolMissing {
                tool: "qemu-img".into(),
                package: "qemu-utils",
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            },
            StorageError::ToolFailed {
                tool: "qemu-img".into(),
                operation: "create",
                path: "/vms/a.qcow2".into(),
                source: lock,
            },
        ];
        let text: Vec<String> = errors
            .iter()
            .map(|e| format!("{:?}: {e}", e.kind()))
            .collect();
        insta::assert_snapshot!(text.join("\n"));
    }
}
