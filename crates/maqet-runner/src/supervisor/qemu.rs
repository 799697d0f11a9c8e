//! The QEMU process: spawning it with its output captured, adopting one, waiting for its exit.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use maqet_error_chain::error_chain;
use maqet_qmp::{PendingReply, QmpClient, QmpError};
use maqet_runner::layout::QEMU_QMP_FD;
use maqet_runner::process;
use maqet_state::ProcessIdentity;
use tokio::io::AsyncReadExt;
use tokio::io::unix::AsyncFd;

use super::log::log;

/// How much of QEMU's output is kept for error reports.
const OUTPUT_KEPT: usize = 64 * 1024;

/// How a QEMU process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Exited with this status code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Not our child (re-adopted): the status is not available.
    Unknown,
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(code) => write!(f, "exit status {code}"),
            Self::Signal(signal) => write!(f, "killed by signal {signal}"),
            Self::Unknown => f.write_str("exit status unknown"),
        }
    }
}

/// The last bytes QEMU wrote to stdout and stderr.
#[derive(Debug, Clone, Default)]
pub struct OutputTail(Arc<Mutex<Vec<u8>>>);

impl OutputTail {
    fn push(&self, bytes: &[u8]) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.extend_from_slice(bytes);
        if kept.len() > OUTPUT_KEPT {
            let cut = kept.len() - OUTPUT_KEPT;
            kept.drain(..cut);
        }
    }

    /// The kept output as text.
    pub fn text(&self) -> String {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&kept).into_owned()
    }
}

/// A supervised QEMU: our child (launched) or a process watched through a pidfd (adopted).
pub enum QemuProcess {
    /// Launched by this runner.
    Child(tokio::process::Child),
    /// Re-adopted: not our child.
    Adopted(AsyncFd<OwnedFd>),
}

impl QemuProcess {
    /// Waits for QEMU to exit.
    pub async fn wait(&mut self) -> ExitKind {
        match self {
            Self::Child(child) => match child.wait().await {
                Ok(status) => match (status.code(), status.signal()) {
                    (Some(code), _) => ExitKind::Code(code),
                    (None, Some(signal)) => ExitKind::Signal(signal),
                    (None, None) => ExitKind::Unknown,
                },
                Err(err) => {
                    log!("cannot wait for QEMU: {err}");
                    ExitKind::Unknown
                }
            },
            Self::Adopted(pidfd) => {
                // A pidfd becomes readable when the process exits.
                if let Err(err) = pidfd.readable().await {
                    log!("cannot watch the adopted QEMU: {err}");
                    std::future::pending::<()>().await;
                }
                ExitKind::Unknown
            }
        }
    }

    /// Kills QEMU, only if this runner launched it (an adopted QEMU is never killed here).
    pub fn kill_if_child(&mut self) {
        if let Self::Child(child) = self {
            drop(child.start_kill());
        }
    }
}

/// Spawns QEMU with stdin from /dev/null and stdout+stderr into the log and an [`OutputTail`];
/// QEMU inherits `qmp_listener` as fd [`QEMU_QMP_FD`].
///
/// No parent-death signal is set: QEMU outlives this runner if the runner dies.
pub fn spawn(
    argv: &[String],
    qmp_listener: BorrowedFd<'_>,
) -> std::io::Result<(
    QemuProcess,
    ProcessIdentity,
    OutputTail,
    tokio::task::JoinHandle<()>,
)> {
    let Some((binary, args)) = argv.split_first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the QEMU command line is empty",
        ));
    };
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let write2 = write.try_clone()?;
    // Exec'd by the path that `execvp` would find, with argv[0] as the spec has it: the
    // forked child makes one `execve` instead of one per `PATH` entry.
    let resolved = super::exec_path::resolve(binary, std::env::var_os("PATH").as_deref());
    let mut command = match &resolved {
        Some(path) => tokio::process::Command::new(path),
        None => tokio::process::Command::new(binary),
    };
    command
        .arg0(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::from(write2));
    let listener = qmp_listener.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only calls dup2/fcntl, which
    // are async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(move || pass_fd(listener, QEMU_QMP_FD));
    }
    let child = command.spawn()?;
    // Dropping the command closes our copies of the pipe's write end, so EOF comes with QEMU's exit.
    drop(command);
    let pid = child.id().unwrap_or(0);
    let identity = process::identity_of(pid).unwrap_or(ProcessIdentity { pid, start_time: 0 });
    let tail = OutputTail::default();
    let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(read)?;
    let copier = tokio::spawn(copy_output(reader, tail.clone()));
    Ok((QemuProcess::Child(child), identity, tail, copier))
}

/// Makes `fd` available to the exec'd program as `target` (without close-on-exec).
fn pass_fd(fd: RawFd, target: RawFd) -> std::io::Result<()> {
    // SAFETY: plain descriptor calls on descriptors this process owns.
    let result = unsafe {
        if fd == target {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags == -1 {
                -1
            } else {
                libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC)
            }
        } else {
            libc::dup2(fd, target)
        }
    };
    if result == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

async fn copy_output(mut reader: tokio::net::unix::pipe::Receiver, tail: OutputTail) {
    let mut chunk = vec![0u8; 4096];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.push(&chunk[..n]);
                let text = String::from_utf8_lossy(&chunk[..n]);
                for line in text.lines() {
                    log!("qemu: {line}");
                }
            }
        }
    }
}

/// Checks that `identity` is this VM's QEMU and pins it with a pidfd.
pub fn adopt(identity: &ProcessIdentity, qemu_qmp_socket: &Path) -> Result<QemuProcess, String> {
    use rustix::process::{Pid, PidfdFlags, pidfd_open};
    let pid = i32::try_from(identity.pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| format!("{} is not a valid PID", identity.pid))?;
    let pidfd = pidfd_open(pid, PidfdFlags::NONBLOCK)
        .map_err(|err| format!("QEMU (pid {}) is gone: {err}", identity.pid))?;
    if !process::is_alive(identity) {
        return Err(format!(
            "QEMU (pid {}) is no longer running (the PID now belongs to another process or none)",
            identity.pid
        ));
    }
    let socket = qemu_qmp_socket.to_string_lossy().replace(',', ",,");
    let cmdline = process::cmdline(identity.pid).unwrap_or_default();
    if !cmdline.iter().any(|arg| arg.contains(&socket)) {
        return Err(format!(
            "process {} is not this VM's QEMU: its command line does not name {}",
            identity.pid,
            qemu_qmp_socket.display()
        ));
    }
    // SAFETY: `OwnedFd` owns a valid open descriptor and always returns that same descriptor.
    unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
        .map(QemuProcess::Adopted)
        .map_err(|err| format!("cannot watch QEMU (pid {}): {err}", identity.pid))
}

/// Binds QEMU's QMP socket and connects to it before QEMU exists.
///
/// The connection waits in the listen backlog until QEMU, which inherits the listener, accepts
/// it and sends its greeting; the caller drops the listener once QEMU holds it, so the
/// connection ends when QEMU does.
pub fn bind_qmp(socket: &Path) -> std::io::Result<(UnixListener, std::os::unix::net::UnixStream)> {
    let listener = UnixListener::bind(socket)?;
    let stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_nonblocking(true)?;
    Ok((listener, stream))
}

/// Waits (on readiness, no polling) for QEMU's greeting on a connection made by [`bind_qmp`],
/// and negotiates capabilities with the first questions right behind (see [`FirstAnswers`]):
/// QEMU runs them in order after `qmp_capabilities`, so negotiation and the status cost one
/// round trip. Gives up after `limit`; the caller races this against QEMU's exit.
pub async fn await_qmp(
    stream: std::os::unix::net::UnixStream,
    limit: Duration,
) -> Result<(QmpClient, FirstAnswers), String> {
    let stream = tokio::net::UnixStream::from_std(stream).map_err(|err| err.to_string())?;
    match tokio::time::timeout(limit, stream.readable()).await {
        Err(_) => return Err("QEMU sent no QMP greeting".into()),
        Ok(Err(err)) => return Err(err.to_string()),
        Ok(Ok(())) => {}
    }
    let (client, negotiation) = QmpClient::from_stream_pipelined(stream)
        .await
        .map_err(|err| error_chain(&err))?;
    let first = FirstAnswers::ask(&client);
    negotiation.wait().await.map_err(|err| error_chain(&err))?;
    Ok((client, first))
}

/// The runner's first questions to QEMU, sent together: its run state (for the `running`
/// record) and its command list (for the raw-QMP gate, awaited off the ready path).
pub struct FirstAnswers {
    /// `query-status`, or the error that sending it gave.
    pub status: Result<PendingReply, QmpError>,
    /// `query-commands`, or the error that sending it gave.
    pub commands: Result<PendingReply, QmpError>,
}

impl FirstAnswers {
    /// Sends both questions on `client` now.
    pub fn ask(client: &QmpClient) -> Self {
        Self {
            status: client.send("query-status", None),
            commands: client.send("query-commands", None),
        }
    }

    /// Whether QEMU's vCPUs run (`true` when QEMU could not say, as a `running` QEMU is the
    /// one just started or adopted).
    pub async fn running(status: Result<PendingReply, QmpError>) -> bool {
        let Ok(status) = status else { return true };
        match status.wait(maqet_qmp::DEFAULT_TIMEOUT).await {
            Ok(value) => value
                .get("running")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(true),
            Err(_) => true,
        }
    }
}

/// Connects to QEMU's own QMP socket, retrying while it does not exist or refuses.
///
/// Used when adopting a QEMU that is already running (its socket normally exists, so the first
/// attempt succeeds). Gives up after `limit`; the caller races this against QEMU's exit.
pub async fn connect_qmp(socket: &Path, limit: Duration) -> Result<QmpClient, String> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut last_error = String::from("the socket never appeared");
    while tokio::time::Instant::now() < deadline {
        if socket.exists() {
            match QmpClient::connect_with_timeout(socket, Duration::from_secs(5)).await {
                Ok(client) => return Ok(client),
                Err(err) => last_error = error_chain(&err),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(last_error)
}
