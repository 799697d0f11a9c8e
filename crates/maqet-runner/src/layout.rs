//! Where a VM's runtime and data files live, and the QEMU options that wire them up.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of QEMU's own QMP socket, next to the multiplexer socket.
pub(crate) const QEMU_QMP_SOCKET_NAME: &str = "qemu-qmp.sock";
/// Longest path a UNIX socket can be bound at: `sun_path` holds 108 bytes with the
/// terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;
/// File name of the marker `maqet stop` leaves while it stops QEMU.
pub(crate) const STOP_MARKER_NAME: &str = "stop-requested";

/// The descriptor number under which QEMU inherits its QMP listening socket.
///
/// The runner binds `qemu-qmp.sock` itself, connects to it at once (the connection waits in the
/// listen backlog until QEMU accepts it) and hands the listening socket to QEMU as this fd, so
/// the runner never polls for the socket to appear.
pub const QEMU_QMP_FD: i32 = 3;

/// The files of one VM: sockets in its runtime directory, logs in its data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmPaths {
    /// `<runtime>/vms/<id>`: sockets and the lock (mode 0700).
    pub runtime_dir: PathBuf,
    /// `<data>/vms/<id>`: disks, logs and the VM's record file.
    pub data_dir: PathBuf,
}

impl VmPaths {
    /// Paths for a VM.
    pub fn new(runtime_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> VmPaths {
        VmPaths {
            runtime_dir: runtime_dir.into(),
            data_dir: data_dir.into(),
        }
    }

    /// QEMU's own QMP socket; only the runner connects to it.
    pub fn qemu_qmp_socket(&self) -> PathBuf {
        self.runtime_dir.join(QEMU_QMP_SOCKET_NAME)
    }

    /// The runner's QMP multiplexer socket that clients use.
    pub fn qmp_socket(&self) -> PathBuf {
        self.runtime_dir.join("qmp.sock")
    }

    /// The serial console socket (served by QEMU, one client at a time).
    pub fn console_socket(&self) -> PathBuf {
        self.runtime_dir.join("console.sock")
    }

    /// QEMU's identity (`{"pid":N,"start_time":T}`), written by the runner right after it
    /// spawned QEMU, before anything else can fail.
    pub fn qemu_pid_file(&self) -> PathBuf {
        self.runtime_dir.join("qemu.pid")
    }

    /// Created by `maqet stop` before it signals QEMU, so the runner records a stop rather than
    /// a crash when QEMU dies of that signal.
    pub fn stop_marker(&self) -> PathBuf {
        self.runtime_dir.join(STOP_MARKER_NAME)
    }

    /// Every UNIX socket bound in the runtime dir (their paths must fit [`MAX_SOCKET_PATH`]).
    pub fn socket_paths(&self) -> Vec<PathBuf> {
        vec![
            self.qemu_qmp_socket(),
            self.qmp_socket(),
            self.console_socket(),
            self.qga_socket(),
            self.agent_socket(),
            self.copy_socket(),
        ]
    }

    /// The guest agent channel (served by QEMU; only the runner connects to it).
    pub fn qga_socket(&self) -> PathBuf {
        self.runtime_dir.join("qga.sock")
    }

    /// The `cp` data channel (served by QEMU; `cp` connects to it while it holds
    /// [`Self::copy_lock`]).
    pub fn copy_socket(&self) -> PathBuf {
        self.runtime_dir.join("copy.sock")
    }

    /// The lock one `cp` at a time holds on the VM's data channel.
    pub fn copy_lock(&self) -> PathBuf {
        self.runtime_dir.join("copy.lock")
    }

    /// The guest pid of the guest end of the `cp` running on the data channel (so the next copy
    /// can end it when that `cp` was killed).
    pub fn copy_pid_file(&self) -> PathBuf {
        self.runtime_dir.join("copy.pid")
    }

    /// The runner's guest agent socket that clients use.
    pub fn agent_socket(&self) -> PathBuf {
        self.runtime_dir.join("agent.sock")
    }

    /// The files a run leaves in the runtime dir (sockets, QEMU's pid file, the stop marker),
    /// without the runner's own client sockets unless `include_runner_sockets`. Removed when
    /// the run is over; never while a QEMU or runner of the VM lives.
    pub fn run_files(&self, include_runner_sockets: bool) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if include_runner_sockets {
            files.extend([self.qmp_socket(), self.agent_socket()]);
        }
        files.extend([
            self.qemu_qmp_socket(),
            self.console_socket(),
            self.qemu_pid_file(),
            self.stop_marker(),
            self.qga_socket(),
            self.copy_socket(),
            self.copy_pid_file(),
            // Without QEMU there is no channel to guard.
            self.copy_lock(),
        ]);
        files
    }

    /// The per-VM lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.runtime_dir.join("lock")
    }

    /// Everything the guest wrote to its serial port.
    pub fn serial_log(&self) -> PathBuf {
        self.data_dir.join("serial.log")
    }

    /// QMP events as JSON lines.
    pub fn events_log(&self) -> PathBuf {
        self.data_dir.join("events.jsonl")
    }

    /// The runner's own log, with QEMU's stderr.
    pub fn runner_log(&self) -> PathBuf {
        self.data_dir.join("runner.log")
    }

    /// The QEMU options that connect QEMU to the runner and the serial log (appended to, so
    /// the runner can truncate it when rotating; each launch moves the previous log aside).
    ///
    /// QMP is served on the listening socket the runner passes as fd [`QEMU_QMP_FD`]. QEMU
    /// refuses `path=` next to `fd=`, so an inert `secret` object carries the socket's path:
    /// the command line still names the VM's own QMP socket, which is how a recorded QEMU is
    /// recognised as this VM's (see `process::is_vm_qemu`).
    pub fn control_args(&self) -> Vec<String> {
        vec![
            "-chardev".into(),
            format!("socket,id=maqet-qmp,fd={QEMU_QMP_FD},server=on,wait=off"),
            "-mon".into(),
            "chardev=maqet-qmp,mode=control".into(),
            "-object".into(),
            format!(
                "secret,id=maqet-qmp-path,data={}",
                escape(&self.qemu_qmp_socket())
            ),
            "-chardev".into(),
            format!(
                "socket,id=maqet-serial,path={},server=on,wait=off,logfile={},logappend=on",
                escape(&self.console_socket()),
                escape(&self.serial_log())
            ),
            "-serial".into(),
            "chardev:maqet-serial".into(),
        ]
    }
}

impl VmPaths {
    /// The QEMU options of the guest agent channel: a chardev socket QEMU serves for the runner,
    /// on a virtio-serial port named `org.qemu.guest_agent.0` (the name qemu-ga looks for).
    pub fn agent_args(&self) -> Vec<String> {
        vec![
            "-chardev".into(),
            format!(
                "socket,id=maqet-qga,path={},server=on,wait=off",
                escape(&self.qga_socket())
            ),
            "-device".into(),
            "virtio-serial-pci,id=maqet-qga-serial".into(),
            "-device".into(),
            "virtserialport,bus=maqet-qga-serial.0,chardev=maqet-qga,name=org.qemu.guest_agent.0"
                .into(),
        ]
    }

    /// The QEMU options of the `cp` data channel: a second port, `org.maqet.copy.0`, on the
    /// agent's virtio-serial controller (so it comes after [`Self::agent_args`]), on a socket
    /// QEMU serves for `cp`.
    pub fn copy_channel_args(&self) -> Vec<String> {
        vec![
            "-chardev".into(),
            format!(
                "socket,id=maqet-copy,path={},server=on,wait=off",
                escape(&self.copy_socket())
            ),
            "-device".into(),
            format!(
                "virtserialport,bus=maqet-qga-serial.0,chardev=maqet-copy,name={COPY_PORT_NAME}"
            ),
        ]
    }

    /// Whether a QEMU command line has this VM's agent channel.
    pub fn has_agent_channel(&self, argv: &[String]) -> bool {
        let socket = format!("path={}", escape(&self.qga_socket()));
        argv.iter().any(|arg| arg.contains(&socket))
    }
}

/// The guest-side name of the `cp` data port (`/sys/class/virtio-ports/*/name`).
pub const COPY_PORT_NAME: &str = "org.maqet.copy.0";

/// Escapes a path for a QEMU option value (`,` doubles).
fn escape(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}
