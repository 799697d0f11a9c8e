//! Errors of `maqet deploy` and `maqet undeploy`.

use std::path::PathBuf;

use maqet_export_render::{ExportError, HostMessage};

use maqet_plugin_api::ErrorKind;

/// `deploy` or `undeploy` failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A required argument is missing or has the wrong type.
    #[error("argument `{name}` is missing or not allowed; see `maqet deploy --help`")]
    BadArgument {
        /// The argument's name.
        name: &'static str,
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
    /// The VM could not be rendered as a domain.
    #[error("VM `{vm}` cannot be described to libvirt")]
    Render {
        /// The VM.
        vm: String,
        /// Why.
        #[source]
        source: ExportError,
    },
    /// The local VM runs, so its disks are in use.
    #[error(
        "VM `{vm}` is running here, so its disks are changing; stop it with `maqet stop {vm}` and deploy again"
    )]
    LocalVmRunning {
        /// The VM.
        vm: String,
    },
    /// libvirt at the URI could not be reached.
    #[error(
        "cannot reach libvirt at `{uri}`; check the URI, that libvirtd runs there, and the network path (ssh, tcp)"
    )]
    Unreachable {
        /// The URI.
        uri: String,
        /// libvirt's error.
        #[source]
        source: virt::error::Error,
    },
    /// libvirt refused the credentials.
    #[error("libvirt at `{uri}` refused the login; check the user, key or password for that host")]
    AuthFailed {
        /// The URI.
        uri: String,
        /// libvirt's error.
        #[source]
        source: virt::error::Error,
    },
    /// The storage pool does not exist.
    #[error(
        "libvirt at `{uri}` has no storage pool `{pool}`; pass `--pool NAME`, or create it: \
         virsh -c {uri} pool-define-as {pool} dir --target /var/lib/libvirt/images && \
         virsh -c {uri} pool-build {pool} && virsh -c {uri} pool-start {pool}"
    )]
    NoPool {
        /// The URI.
        uri: String,
        /// The pool.
        pool: String,
    },
    /// The storage pool exists but is not started.
    #[error(
        "storage pool `{pool}` at `{uri}` is not active; start it with `virsh -c {uri} pool-start {pool}`"
    )]
    PoolInactive {
        /// The URI.
        uri: String,
        /// The pool.
        pool: String,
    },
    /// Another domain has the name.
    #[error(
        "libvirt at `{uri}` already has a domain `{name}` that was not deployed from this maqet \
         VM; pick another name with `--name`, or remove that domain"
    )]
    NameTaken {
        /// The URI.
        uri: String,
        /// The name.
        name: String,
    },
    /// The VM is deployed there under another name.
    #[error(
        "VM `{vm}` is already deployed at `{uri}` as domain `{existing}`; redeploy with \
         `--name {existing}`, or `maqet undeploy {vm} --connect {uri} --name {existing}` first"
    )]
    DeployedAsOther {
        /// The VM.
        vm: String,
        /// The URI.
        uri: String,
        /// The domain's name there.
        existing: String,
    },
    /// The domain runs and `--restart` was not given.
    #[error(
        "domain `{name}` is running at `{uri}`; pass `--restart` to stop it, update it and start it again"
    )]
    DomainRunning {
        /// The URI.
        uri: String,
        /// The domain.
        name: String,
    },
    /// A file to upload is not a regular file.
    #[error(
        "{what} `{path}` is not a regular file, so it cannot be uploaded; point the VM at a regular file"
    )]
    NotRegularFile {
        /// What it is (`drive root`, `kernel`).
        what: String,
        /// The path.
        path: PathBuf,
    },
    /// A disk image does not exist and maqet cannot create it remotely.
    #[error(
        "{what} `{path}` does not exist; start the VM once with maqet so it is created, or fix the path"
    )]
    MissingFile {
        /// What it is.
        what: String,
        /// The path.
        path: PathBuf,
    },
    /// qemu-img failed while flattening an overlay.
    #[error(
        "qemu-img could not {action} of drive `{drive}`, an overlay deploy flattens before \
         upload; check that qemu-img is installed and the image and its backing files are readable"
    )]
    QemuImg {
        /// The drive.
        drive: String,
        /// What was being done.
        action: &'static str,
        /// What qemu-img said.
        #[source]
        source: HostMessage,
    },
    /// The VM's UEFI variables could not be made raw for libvirt.
    #[error(
        "cannot convert the UEFI variables of VM `{vm}` ({path}) to the raw file libvirt boots \
         with; check that qemu-img is installed and the file is readable"
    )]
    Nvram {
        /// The VM.
        vm: String,
        /// maqet's qcow2 variable store.
        path: std::path::PathBuf,
        /// What qemu-img said.
        #[source]
        source: HostMessage,
    },
    /// No temporary directory for a flattened image.
    #[error(
        "cannot create a temporary directory for a flattened disk image; set TMPDIR to a \
         writable directory with room for the image"
    )]
    TempDir {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Creating the missing `default` pool failed.
    #[error(
        "libvirt at `{uri}` has no storage pool `default` and creating it (a directory pool at \
         {path}) failed; create a pool yourself and pass `--pool NAME`"
    )]
    CreatePool {
        /// The URI.
        uri: String,
        /// The directory.
        path: String,
        /// libvirt's error.
        #[source]
        source: virt::error::Error,
    },
    /// A local file could not be read.
    #[error("cannot read `{path}` to upload it")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A libvirt call failed.
    #[error("libvirt at `{uri}` could not {action}")]
    Libvirt {
        /// The URI.
        uri: String,
        /// What was being done.
        action: String,
        /// libvirt's error.
        #[source]
        source: virt::error::Error,
    },
    /// Nothing to undeploy.
    #[error("VM `{vm}` is not deployed at `{uri}` (no domain `{name}` and none with its id)")]
    NotDeployed {
        /// The VM.
        vm: String,
        /// The URI.
        uri: String,
        /// The domain name looked for.
        name: String,
    },
}

impl DeployError {
    /// The kind of failure, for the exit code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BadArgument { .. }
            | Self::NoPool { .. }
            | Self::PoolInactive { .. }
            | Self::NameTaken { .. }
            | Self::DeployedAsOther { .. }
            | Self::DomainRunning { .. }
            | Self::NotRegularFile { .. }
            | Self::MissingFile { .. }
            | Self::LocalVmRunning { .. }
            | Self::NotDeployed { .. }
            | Self::Render { .. } => ErrorKind::InvalidInput,
            Self::AuthFailed { .. } => ErrorKind::PermissionDenied,
            Self::ReadFile { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                ErrorKind::PermissionDenied
            }
            Self::Info { .. }
            | Self::QemuImg { .. }
            | Self::Nvram { .. }
            | Self::TempDir { .. }
            | Self::CreatePool { .. }
            | Self::Unreachable { .. }
            | Self::ReadFile { .. }
            | Self::Libvirt { .. } => ErrorKind::Failure,
        }
    }
}
