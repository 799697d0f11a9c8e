//! `MaqetError`: every failure the `Maqet` API reports, with a kind that decides the exit code.

use std::error::Error as StdError;

use crate::config::ConfigError;
pub use crate::error_kind::ErrorKind;
use crate::error_kind::caused_by_permission;
pub use crate::error_parts::{NeedsStopped, PluginFailure};
pub use crate::saved_state_error::SavedStateError;
pub use crate::snapshot_error::SnapshotError;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error from the maqet API.
#[derive(Debug, thiserror::Error)]
pub enum MaqetError {
    /// A VM config could not be read, parsed, merged or validated.
    #[error(transparent)]
    Config(Box<ConfigError>),
    /// The state database failed.
    #[error(transparent)]
    State(Box<maqet_state::StateError>),
    /// A drive or an image operation failed.
    #[error(transparent)]
    Storage(Box<maqet_storage::StorageError>),
    /// Starting, watching or stopping a VM's runner failed.
    #[error(transparent)]
    Runner(Box<maqet_runner::RunnerError>),
    /// A QMP command failed or QEMU refused it.
    #[error(transparent)]
    Qmp(Box<maqet_qmp::QmpError>),
    /// A snapshot could not be taken, loaded, deleted or listed.
    #[error(transparent)]
    Snapshot(Box<SnapshotError>),
    /// A VM's memory and device state could not be saved or restored (`stop --save`,
    /// `start` of a saved VM, `--from-state`).
    #[error(transparent)]
    SavedState(Box<SavedStateError>),
    /// No firmware fits a UEFI VM, or its variable store cannot be prepared.
    #[error(transparent)]
    Firmware(Box<crate::firmware::FirmwareError>),
    /// No VM has this name or id.
    #[error("no VM is named or has the id `{0}`; `maqet ls` lists the VMs")]
    VmNotFound(String),
    /// `start` of a VM that already runs (exit 3).
    #[error(
        "VM `{vm}` is already running (pid {})",
        pid.map_or_else(|| "?".to_string(), |p| p.to_string())
    )]
    AlreadyRunning {
        /// The VM's name.
        vm: String,
        /// Its QEMU's process id, when recorded.
        pid: Option<u32>,
    },
    /// The VM's QEMU runs without a runner that could take it over, so it cannot be started
    /// (exit 3).
    #[error("VM `{vm}` is already running as orphan QEMU pid {pid}; `maqet stop {vm}`")]
    OrphanRunning {
        /// The VM's name.
        vm: String,
        /// The orphan QEMU's process id.
        pid: u32,
    },
    /// A command that needs a running VM, on one that does not run (exit 3).
    #[error("VM `{vm}` is not running (status: {status}); start it with `maqet start {vm}`")]
    NotRunning {
        /// The VM's name.
        vm: String,
        /// Its status.
        status: maqet_state::VmStatus,
    },
    /// Another VM already has this name (exit 3).
    #[error("a VM named `{name}` already exists; pick another name")]
    NameTaken {
        /// The name asked for.
        name: String,
    },
    /// The name asked for is another VM's id (exit 3).
    #[error("`{name}` is the id of VM `{vm}`; pick another name")]
    NameIsAnId {
        /// The name asked for.
        name: String,
        /// The VM whose id it is.
        vm: String,
    },
    /// A host port the VM forwards is taken by another process (exit 3).
    #[error(
        "VM `{vm}` cannot forward host port {port}/{proto} on {addr}: it is taken{}; pick another `host` port in `ports`",
        holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default()
    )]
    PortTaken {
        /// The VM's name.
        vm: String,
        /// The host port.
        port: u16,
        /// `tcp` or `udp`.
        proto: String,
        /// The host address.
        addr: std::net::Ipv4Addr,
        /// The process holding it (`pid N (NAME)`), when it can be found.
        holder: Option<String>,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// A host port the VM forwards was taken while it started, and is free again (exit 3).
    #[error(
        "VM `{vm}` cannot forward host port {}: another process took it while the VM started; try again, or pick another `host` port in `ports`",
        ports.join(", ")
    )]
    PortLost {
        /// The VM's name.
        vm: String,
        /// The ports (`7001/tcp on 127.0.0.1`).
        ports: Vec<String>,
    },
    /// A host port that another registered VM forwards too (exit 3).
    #[error(
        "host port {port}/{proto} on {addr} is already forwarded by VM `{other}`; pick another `host` port in `ports`, or {anyway} with `--force` (then only one of the two can run at a time)"
    )]
    PortForwarded {
        /// The host port.
        port: u16,
        /// `tcp` or `udp`.
        proto: String,
        /// The host address.
        addr: std::net::Ipv4Addr,
        /// The VM that forwards it.
        other: String,
        /// What `--force` does for this command (`add the VM anyway`).
        anyway: String,
    },
    /// Another maqet command held the VM's lock for too long (exit 2).
    #[error(
        "VM `{vm}` is busy: another maqet command has held its lock for {seconds} s; try again later"
    )]
    Locked {
        /// The VM's name.
        vm: String,
        /// How long maqet waited.
        seconds: u64,
    },
    /// `cp` without `--force` onto a file that exists (exit 3).
    #[error(
        "{path} already exists{}; add --force to replace it",
        if *in_guest { " in the guest" } else { "" }
    )]
    DestinationExists {
        /// The file, as the user named it (a host path, or a path in the guest).
        path: String,
        /// Whether the file is in the guest (else on the host).
        in_guest: bool,
    },
    /// A wait (`wait`, `events`, `wait --agent`, `--ssh`, `--port`) ran out of time (exit 2).
    #[error("timed out after {:.1} s waiting for {what}", after.as_secs_f64())]
    WaitTimedOut {
        /// What was awaited (and, after a `;`, what to check).
        what: String,
        /// How long maqet waited.
        after: std::time::Duration,
        /// The last failure while waiting, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A guest command (`exec`) did not finish within its `--timeout` (exit 2).
    #[error(
        "`{program}` did not finish within {:.1} s; {} (pid {pid})",
        after.as_secs_f64(),
        if *killed { "maqet killed it in the guest" } else { "it may still run in the guest" }
    )]
    GuestCommandTimedOut {
        /// The program.
        program: String,
        /// The time limit.
        after: std::time::Duration,
        /// Its process id in the guest.
        pid: i64,
        /// Whether maqet killed it.
        killed: bool,
    },
    /// The config's QEMU binary could be changed by another user (exit 4).
    #[error(
        "refusing to run the QEMU binary {}: {reason}; another user could replace the program maqet runs",
        binary.display()
    )]
    UntrustedBinary {
        /// The binary.
        binary: std::path::PathBuf,
        /// Which file or directory is not safe and why.
        reason: crate::trust::Untrusted,
    },
    /// A VM's socket path does not fit a UNIX socket address (exit 3).
    #[error(
        "the VM's socket path {} is {len} bytes, over the UNIX socket limit of {limit} bytes; \
         use a shorter runtime directory (--maqet-runtime-dir or `directories.runtime_dir` in maqet.conf) \
         than {}",
        socket.display(),
        runtime_root.display()
    )]
    SocketPathTooLong {
        /// The socket.
        socket: std::path::PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The most a socket path may have.
        limit: usize,
        /// The runtime directory to shorten.
        runtime_root: std::path::PathBuf,
    },
    /// A command that needs a stopped VM, on one that runs (exit 3).
    #[error("{}", command.refusal(vm))]
    IsRunning {
        /// The VM's name.
        vm: String,
        /// The command refused.
        command: NeedsStopped,
    },
    /// `call` of a command name no command has (exit 3).
    #[error("there is no maqet command `{command}`; `maqet --help` lists them")]
    UnknownCommand {
        /// The name asked for.
        command: String,
    },
    /// A flag that needs a yes on a terminal (`rm --all`), without a terminal to ask on and
    /// without the flag that answers yes beforehand (exit 3; nothing was done).
    #[error(
        "`{command}` asks \"{}\" and there is no terminal to answer on; pass {yes_flag} to go ahead (nothing was done)",
        questions.join(" ")
    )]
    NeedsConfirmation {
        /// The command (`rm`).
        command: String,
        /// The questions it asks.
        questions: Vec<String>,
        /// How to answer yes beforehand (`--force`, `force=True`).
        yes_flag: String,
    },
    /// The user answered no to a confirmation question (exit 2; nothing was done).
    #[error("cancelled; `maqet {command}` did nothing")]
    Declined {
        /// The command (`rm`).
        command: String,
    },
    /// `$MAQET_CONFIG` names a file that does not exist (exit 3).
    #[error(
        "MAQET_CONFIG names {}, which does not exist; fix or unset the variable",
        path.display()
    )]
    SettingsMissing {
        /// The file named.
        path: std::path::PathBuf,
    },
    /// `maqet.conf` could be changed by another user (exit 4).
    #[error(
        "refusing {}: {reason}; another user could change maqet's settings through it",
        path.display()
    )]
    UntrustedSettings {
        /// The settings file.
        path: std::path::PathBuf,
        /// Which file or directory is not safe and why.
        reason: crate::trust::Untrusted,
    },
    /// `attach` of an image file that does not exist (exit 3).
    #[error(
        "{} is not an existing file; give the path of the image to attach",
        path.display()
    )]
    ImageMissing {
        /// The path given.
        path: std::path::PathBuf,
    },
    /// `ssh` before the first boot printed the VM's SSH host keys (exit 1; wait, then retry).
    #[error(
        "the SSH host keys of VM `{vm}` are not known yet: cloud-init prints them on the console during the first boot; wait for it with `maqet wait {vm} --ssh`"
    )]
    HostKeysUnknown {
        /// The VM's name.
        vm: String,
    },
    /// A helper program maqet ran in the guest (`test`, `find`) printed more than the guest
    /// agent passes on (exit 1).
    #[error(
        "the output of `{program}` in the guest of VM `{vm}` was cut at the agent's 16 MiB limit, so maqet cannot rely on it"
    )]
    GuestOutputCut {
        /// The VM's name.
        vm: String,
        /// The program.
        program: String,
    },
    /// `cp --via channel` to a VM that has no copy channel (exit 3).
    #[error(
        "VM `{vm}` has no copy channel: {reason}; `--via auto` copies over SSH or through the agent instead"
    )]
    NoCopyChannel {
        /// The VM's name.
        vm: String,
        /// Why (config, or started before the channel existed), with what to do.
        reason: String,
    },
    /// The VM's copy channel exists but cannot carry this copy (exit 1).
    #[error(
        "the copy channel of VM `{vm}` cannot be used: {reason}; `--via agent` or `--via ssh` copy without it"
    )]
    CopyChannelUnusable {
        /// The VM's name.
        vm: String,
        /// What is missing or busy.
        reason: String,
    },
    /// A helper program maqet ran in the guest did not finish in time (exit 2).
    #[error(
        "`{program}` (pid {pid}) did not finish in the guest of VM `{vm}` within {} s",
        after.as_secs()
    )]
    GuestHelperTimedOut {
        /// The VM's name.
        vm: String,
        /// The program.
        program: String,
        /// Its process id in the guest.
        pid: i64,
        /// The time limit.
        after: std::time::Duration,
    },
    /// A command argument that could not be read: missing, of the wrong type, not taken by
    /// the command, or a duration no clock can wait for (exit 3). Plugins refuse theirs with
    /// the same `maqet_command::ArgError`.
    #[error(transparent)]
    Argument(#[from] maqet_command::ArgError),
    /// A plugin command failed; the plugin's error (with its own cause) is the source.
    #[error(transparent)]
    Plugin(PluginFailure),
    /// An operating-system call (a file, a socket, a process) failed while doing `what`; the
    /// kind follows the OS error.
    #[error("{what}")]
    Io {
        /// What failed and what to do.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Bad input: an option value, a name, a path, a combination of options (exit 3).
    #[error("{message}")]
    InvalidInput {
        /// What is wrong and what to do.
        message: String,
        /// The cause, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// Something asked for does not exist: a drive, a file, a port (exit 3).
    #[error("{message}")]
    NotFound {
        /// What is missing and what to do.
        message: String,
        /// The cause, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// Something is already there: a name, a running VM, a file (exit 3).
    #[error("{message}")]
    AlreadyExists {
        /// What is in the way and what to do.
        message: String,
        /// The cause, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A wait ran out of time, or a lock stayed busy (exit 2).
    #[error("{message}")]
    Timeout {
        /// What did not happen in time and what to do.
        message: String,
        /// The cause, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The user cancelled (exit 2).
    #[error("{message}")]
    Cancelled {
        /// What was cancelled.
        message: String,
    },
    /// Access was refused (exit 4).
    #[error("{message}")]
    PermissionDenied {
        /// What was refused and what to do.
        message: String,
        /// The cause, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// Any other failure: a guest agent, a runner or QEMU reporting a problem (exit 1).
    #[error("{message}")]
    Failed {
        /// What failed and what to do.
        message: String,
        /// The cause, when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl From<maqet_command::DurationError> for MaqetError {
    fn from(err: maqet_command::DurationError) -> MaqetError {
        MaqetError::Argument(err.into())
    }
}

impl MaqetError {
    /// Bad input from the caller.
    pub fn invalid(message: impl Into<String>) -> MaqetError {
        MaqetError::new(ErrorKind::InvalidInput, message)
    }

    /// A failure of the given kind without an underlying cause.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> MaqetError {
        MaqetError::of_kind(kind, message.into(), None)
    }

    /// A failure of the given kind caused by `source`.
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> MaqetError {
        MaqetError::of_kind(kind, message.into(), Some(source.into()))
    }

    /// The variant of `kind`.
    fn of_kind(kind: ErrorKind, message: String, source: Option<BoxError>) -> MaqetError {
        match kind {
            ErrorKind::InvalidInput => MaqetError::InvalidInput { message, source },
            ErrorKind::NotFound => MaqetError::NotFound { message, source },
            ErrorKind::AlreadyExists => MaqetError::AlreadyExists { message, source },
            ErrorKind::Timeout => MaqetError::Timeout { message, source },
            ErrorKind::Cancelled => MaqetError::Cancelled { message },
            ErrorKind::PermissionDenied => MaqetError::PermissionDenied { message, source },
            ErrorKind::Failure => MaqetError::Failed { message, source },
        }
    }

    /// A plugin command's failure of the given kind.
    pub fn plugin(kind: ErrorKind, error: impl Into<BoxError>) -> MaqetError {
        MaqetError::Plugin(PluginFailure {
            kind,
            error: error.into(),
        })
    }

    /// An I/O failure while doing `what` (the kind follows the OS error).
    pub fn io(what: impl Into<String>, err: std::io::Error) -> MaqetError {
        MaqetError::Io {
            what: what.into(),
            source: err,
        }
    }

    /// The class of this failure. A failure whose cause is the OS refusing access (`EACCES`,
    /// `EPERM`) anywhere in its source chain is [`ErrorKind::PermissionDenied`] (exit 4).
    pub fn kind(&self) -> ErrorKind {
        match self.own_kind() {
            ErrorKind::Failure if caused_by_permission(self) => ErrorKind::PermissionDenied,
            kind => kind,
        }
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }
}
