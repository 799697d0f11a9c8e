//! Errors of the `cloud-init` command.

use std::path::PathBuf;

/// The `cloud-init` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CloudInitError {
    /// A required argument is missing or has the wrong type.
    #[error("argument `{name}` is missing or not a string; see `maqet cloud-init --help`")]
    BadArgument {
        /// The argument's name.
        name: &'static str,
    },
    /// An input file could not be read.
    #[error("cannot read {what} file {path}; check the path")]
    ReadInput {
        /// Which input (`user-data`...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// maqet refused a command the plugin needs.
    #[error("maqet could not run `{command}` for VM `{vm}`")]
    Host {
        /// The maqet command.
        command: &'static str,
        /// The VM.
        vm: String,
        /// What maqet said.
        #[source]
        source: HostMessage,
    },
    /// `info` gave no data directory.
    #[error("maqet's `info` for VM `{vm}` has no `data_dir`; this maqet is too old for the plugin")]
    NoDataDir {
        /// The VM.
        vm: String,
    },
    /// The VM runs: its seed is read at boot, so a new one would only confuse.
    #[error("VM `{vm}` is running; stop it before giving it a new cloud-init seed")]
    Running {
        /// The VM.
        vm: String,
    },
    /// The ISO image could not be built.
    #[error("cannot build the seed ISO image")]
    BuildIso {
        /// The ISO writer's error.
        #[source]
        source: maqet_seed::SeedError,
    },
    /// The ISO image could not be written to disk.
    #[error("cannot write the seed ISO to {path}; check that the VM's data directory is writable")]
    WriteIso {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// An error message from maqet.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HostMessage(pub String);
