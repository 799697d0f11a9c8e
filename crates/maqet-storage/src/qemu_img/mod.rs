//! `qemu-img` operations: create, info, internal snapshots, convert and overlays.

mod create;
mod info;
mod references;
mod run;
mod snapshot;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use create::CreatedImage;
pub use info::{ImageInfo, SnapshotInfo};
pub use references::ImageReferences;
pub use snapshot::validate_snapshot_name;

use crate::DriveKind;

/// Debian package that ships `qemu-img` and `qemu-io`.
pub const QEMU_IMG_PACKAGE: &str = "qemu-utils";

/// Image formats maqet creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// qcow2 (snapshots, backing files, sparse).
    Qcow2,
    /// Raw bytes.
    Raw,
}

impl ImageFormat {
    /// The qemu-img spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qcow2 => "qcow2",
            Self::Raw => "raw",
        }
    }

    /// The image format of a drive kind (`None` for virtfs).
    pub fn of(kind: DriveKind) -> Option<Self> {
        match kind {
            DriveKind::Qcow2 => Some(Self::Qcow2),
            DriveKind::Raw => Some(Self::Raw),
            DriveKind::Virtfs => None,
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `qemu-img` binary and the time limit for its short operations.
#[derive(Debug, Clone)]
pub struct QemuImg {
    binary: PathBuf,
    timeout: Duration,
}

impl Default for QemuImg {
    fn default() -> Self {
        Self::new()
    }
}

impl QemuImg {
    /// `qemu-img` from `PATH`, with a 300 s limit per operation (convert has none).
    pub fn new() -> Self {
        Self {
            binary: PathBuf::from("qemu-img"),
            timeout: Duration::from_secs(300),
        }
    }

    /// Uses another `qemu-img` binary.
    pub fn with_binary(mut self, binary: impl Into<PathBuf>) -> Self {
        self.binary = binary.into();
        self
    }

    /// Changes the time limit of create, info and snapshot operations.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The binary that is run.
    pub fn binary(&self) -> &std::path::Path {
        &self.binary
    }
}
