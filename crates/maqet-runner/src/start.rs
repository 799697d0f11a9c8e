//! Starting a runner (launch or adopt) and waiting for its ready report.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{RemoteText, RunnerError};
use crate::layout::VmPaths;
use crate::process::{StopSignal, send_signal};
use crate::spec::{AdoptSpec, FailureKind, LaunchSpec, ReadyLine, StartFailure, Started};

/// How much of the runner's log an error shows when the runner died silently.
const LOG_TAIL_BYTES: u64 = 4096;

/// Starts a runner that launches the VM's QEMU; returns once QEMU answers QMP.
///
/// The runner detaches itself (own session, stdio away from the caller's terminal), so it
/// outlives the caller. If QEMU exits during start-up the error is
/// [`RunnerError::QemuRefused`] with QEMU's own output as its source, as soon as QEMU exits.
/// After `timeout` the runner (and its QEMU) are stopped and [`RunnerError::Timeout`] returned.
pub fn start(
    runner_exe: &Path,
    spec: &LaunchSpec,
    timeout: Duration,
) -> Result<Started, RunnerError> {
    let input = serde_json::to_vec(spec).map_err(|e| RunnerError::Io {
        action: "encode the launch spec".into(),
        source: e.into(),
    })?;
    run(
        runner_exe,
        "launch",
        &spec.vm_id,
        &spec.vm_name,
        &spec.paths,
        &input,
        timeout,
    )
}

/// Starts a runner that takes over an already running QEMU whose runner is gone.
///
/// The runner refuses ([`RunnerError::NotAdoptable`]) unless the PID still has the recorded
/// start time and its command line names this VM's QMP socket.
pub fn adopt(
    runner_exe: &Path,
    spec: &AdoptSpec,
    timeout: Duration,
) -> Result<Started, RunnerError> {
    let input = serde_json::to_vec(spec).map_err(|e| RunnerError::Io {
        action: "encode the adopt spec".into(),
        source: e.into(),
    })?;
    run(
        runner_exe,
        "adopt",
        &spec.vm_id,
        &spec.vm_name,
        &spec.paths,
        &input,
        timeout,
    )
}

fn run(
    exe: &Path,
    mode: &str,
    vm_id: &str,
    vm_name: &str,
    paths: &VmPaths,
    input: &[u8],
    timeout: Duration,
) -> Result<Started, RunnerError> {
    let mut child = Command::new(exe)
        .arg(mode)
        .arg(vm_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| RunnerError::Spawn {
            exe: exe.to_owned(),
            source,
        })?;
    // The spec is small: it fits the pipe buffer, so this never waits on the runner.
    if let Some(mut stdin) = child.stdin.take() {
        // A runner that died at once shows up as EOF on the ready pipe below.
        drop(stdin.write_all(input));
    }
    let Some(stdout) = child.stdout.take() else {
        return Err(RunnerError::Io {
            action: "read the runner's ready pipe".into(),
            source: std::io::Error::other("no stdout pipe"),
        });
    };
    let mut pipe = ReadyPipeReader::new(stdout);
    let deadline = Instant::now() + timeout;
    let mut runner = None;
    let outcome = loop {
        match pipe.next_line(deadline) {
            PipeLine::Line(line) => match serde_json::from_str::<ReadyLine>(&line) {
                Ok(ReadyLine::Runner { runner: id }) => runner = Some(id),
                Ok(ReadyLine::Ready(started)) => break Ok(started),
                Ok(ReadyLine::Failed(failure)) => {
                    break Err(failure_error(vm_name, paths, failure, timeout));
                }
                Err(_) => {} // not ours (e.g. a stray print); keep reading
            },
            PipeLine::Closed => {
                break Err(RunnerError::RunnerDied {
                    vm: vm_name.to_owned(),
                    log: paths.runner_log(),
                    source: RemoteText(log_tail(&paths.runner_log())),
                });
            }
            PipeLine::Timeout => {
                // Before it is ready, a runner told to terminate also ends its QEMU.
                if let Some(id) = runner {
                    drop(send_signal(&id, StopSignal::Terminate));
                }
                break Err(RunnerError::Timeout {
                    what: format!("VM `{vm_name}` to answer QMP"),
                    after: timeout,
                });
            }
        }
    };
    // The direct child only forks the detached runner and exits; reap it.
    if !matches!(child.try_wait(), Ok(Some(_))) {
        if outcome.is_err() {
            drop(child.kill());
        }
        drop(child.wait());
    }
    outcome
}

/// What the next read of the runner's ready pipe gave.
enum PipeLine {
    /// One line (without its newline).
    Line(String),
    /// The runner closed the pipe (or it cannot be read): it died before reporting.
    Closed,
    /// The deadline passed first.
    Timeout,
}

/// Reads the runner's ready pipe line by line in the calling thread, waiting in `poll` until a
/// deadline: no reader thread, so a report wakes exactly the process that waits for it.
struct ReadyPipeReader {
    pipe: ChildStdout,
    buffer: Vec<u8>,
    closed: bool,
}

impl ReadyPipeReader {
    fn new(pipe: ChildStdout) -> Self {
        Self {
            pipe,
            buffer: Vec::new(),
            closed: false,
        }
    }

    fn next_line(&mut self, deadline: Instant) -> PipeLine {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return PipeLine::Line(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            if self.closed {
                // A last line without its newline still counts, as `BufRead::lines` has it.
                if self.buffer.is_empty() {
                    return PipeLine::Closed;
                }
                let line = std::mem::take(&mut self.buffer);
                return PipeLine::Line(String::from_utf8_lossy(&line).into_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return PipeLine::Timeout;
            }
            let timeout = Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: left.subsec_nanos().into(),
            };
            let mut fds = [PollFd::new(&self.pipe, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => self.closed = true,
            }
            if fds[0].revents().is_empty() {
                continue;
            }
            let mut chunk = [0u8; 4096];
            match self.pipe.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
    }
}

fn failure_error(
    vm: &str,
    paths: &VmPaths,
    failure: StartFailure,
    timeout: Duration,
) -> RunnerError {
    let StartFailure {
        kind,
        message,
        detail,
    } = failure;
    let vm = vm.to_owned();
    match kind {
        FailureKind::QemuExited => RunnerError::QemuRefused {
            vm,
            status: message,
            source: RemoteText(detail),
        },
        FailureKind::QmpTimeout => RunnerError::Timeout {
            what: format!("VM `{vm}`'s QEMU to open its QMP socket ({message})"),
            after: timeout,
        },
        FailureKind::NotAdoptable => RunnerError::NotAdoptable {
            vm,
            source: RemoteText(join(&message, &detail)),
        },
        FailureKind::Other => RunnerError::RunnerFailed {
            vm,
            log: paths.runner_log(),
            source: RemoteText(join(&message, &detail)),
        },
    }
}

fn join(message: &str, detail: &str) -> String {
    if detail.is_empty() {
        message.to_owned()
    } else {
        format!("{message}: {detail}")
    }
}

/// The last few KiB of a log file, or a note that it could not be read.
pub(crate) fn log_tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) if text.trim().is_empty() => "(the runner log is empty)".to_owned(),
        Ok(text) => text,
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}
