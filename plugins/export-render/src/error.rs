//! Errors of rendering a VM (and of the `export` command).

use std::path::PathBuf;

/// The `export` command failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A required argument is missing or has the wrong type.
    #[error(
        "argument `{name}` is missing or has a value that is not allowed; see `maqet export --help`"
    )]
    BadArgument {
        /// The argument's name.
        name: &'static str,
    },
    /// `--to` names no known format.
    #[error("unknown export format `{format}`; use `--to libvirt` or `--to nomad`")]
    UnknownFormat {
        /// What was given.
        format: String,
    },
    /// maqet could not describe the VM.
    #[error("maqet could not describe VM `{vm}`")]
    Info {
        /// The VM.
        vm: String,
        /// What maqet said.
        #[source]
        source: HostMessage,
    },
    /// The VM's config lacks something the export needs, or has it in an unexpected shape.
    #[error("VM `{vm}` cannot be exported: {problem}; fix it with `maqet apply`")]
    Config {
        /// The VM.
        vm: String,
        /// What is wrong.
        problem: String,
    },
    /// Rendering the XML failed.
    #[error("cannot render the libvirt domain XML")]
    Xml {
        /// The writer's error.
        #[source]
        source: std::io::Error,
    },
    /// The disk image could not be read to compute its checksum.
    #[error(
        "cannot read the disk image {path} to compute its checksum; start the VM once so maqet \
         creates it, or check the path"
    )]
    ReadImage {
        /// The image.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The VM's UEFI variables could not be copied beside the export.
    #[error(
        "cannot copy the UEFI variables of VM `{vm}` to {path}; check that the directory is \
         writable and qemu-img is installed"
    )]
    Nvram {
        /// The VM.
        vm: String,
        /// The raw copy that was to be written.
        path: PathBuf,
        /// What qemu-img or the file system said.
        #[source]
        source: HostMessage,
    },
    /// The output file could not be written.
    #[error("cannot write the export to {path}; check the path and permissions")]
    WriteOutput {
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
