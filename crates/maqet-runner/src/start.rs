//! Starting a runner (launch or adopt) and waiting for its ready report.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = std::time::Instant::now() + timeout;
    let mut runner = None;
    let outcome = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => match serde_json::from_str::<ReadyLine>(&line) {
                Ok(ReadyLine::Runner { runner: id }) => runner = Some(id),
                Ok(ReadyLine::Ready(started)) => break Ok(started),
                Ok(ReadyLine::Failed(failure)) => {
                    break Err(failure_error(vm_name, paths, failure, timeout));
                }
                Err(_) => {} // not ours (e.g. a stray print); keep reading
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(RunnerError::RunnerDied {
                    vm: vm_name.to_owned(),
                    log: paths.runner_log(),
                    source: RemoteText(log_tail(&paths.runner_log())),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
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
