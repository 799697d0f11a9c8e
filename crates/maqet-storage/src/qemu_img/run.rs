//! Running `qemu-img` with a time limit, capped output and optional progress reports.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::QemuImg;
use crate::{StorageError, ToolStderr};

/// Most output kept from one stream.
const OUTPUT_CAP: u64 = 1 << 20;
const POLL: Duration = Duration::from_millis(10);

/// What a run is for, for error messages.
pub(super) struct Job<'a> {
    pub operation: &'static str,
    pub path: &'a Path,
    /// Whether the operation's time limit applies (convert runs as long as it needs).
    pub limited: bool,
}

impl QemuImg {
    /// Runs qemu-img and returns its stdout; a failure carries stderr as the source.
    pub(super) fn run(
        &self,
        args: Vec<OsString>,
        job: &Job<'_>,
        mut progress: Option<&mut dyn FnMut(f64)>,
    ) -> Result<Vec<u8>, StorageError> {
        let tool = self.binary.display().to_string();
        tracing::debug!(%tool, ?args, "running qemu-img");
        let mut child = Command::new(&self.binary)
            .args(&args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => StorageError::ToolMissing {
                    tool: tool.clone(),
                    package: super::QEMU_IMG_PACKAGE,
                    source,
                },
                _ => StorageError::io("run", &self.binary, source),
            })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StorageError::io(
                "read the output of",
                &self.binary,
                std::io::Error::other("stdout/stderr pipes missing"),
            ));
        };
        let deadline = job.limited.then(|| Instant::now() + self.timeout);
        // A pidfd turns "is qemu-img done yet?" into a wait that ends the moment it exits.
        let exit_fd = rustix::process::pidfd_open(
            rustix::process::Pid::from_child(&child),
            rustix::process::PidfdFlags::empty(),
        )
        .ok();
        // Both pipes and the exit are waited for in this one thread (one `poll`), not by
        // reader threads: qemu-img writes little, and two threads cost more than the reads.
        let mut out = Capture::new(stdout, progress.is_some());
        let mut err = Capture::new(stderr, false);
        let mut exited = None;
        let status = loop {
            if exited.is_none() {
                match child.try_wait() {
                    Ok(found) => exited = found,
                    Err(source) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(StorageError::io("wait for", &self.binary, source));
                    }
                }
            }
            if let Some(status) = exited
                && out.done
                && err.done
            {
                break status;
            }
            if exited.is_none() && deadline.is_some_and(|d| Instant::now() >= d) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StorageError::ToolTimeout {
                    tool,
                    operation: job.operation,
                    path: job.path.to_path_buf(),
                    seconds: self.timeout.as_secs(),
                });
            }
            let exit_fd = exit_fd.as_ref().filter(|_| exited.is_none());
            // Until the exit: a deadline bounds the wait, and without a pidfd the exit is looked
            // for every POLL. After it, only the pipes' ends are awaited, without a limit.
            let wait = if exited.is_some() {
                None
            } else {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                match exit_fd {
                    Some(_) => left,
                    None => Some(left.map_or(POLL, |w| w.min(POLL))),
                }
            };
            let (out_ready, err_ready) = wait_for_any(&out, &err, exit_fd, wait);
            if out_ready {
                out.read_some(|percent| {
                    if let Some(report) = progress.as_mut() {
                        report(percent);
                    }
                });
            }
            if err_ready {
                err.read_some(|_| {});
            }
        };
        let stdout = out.kept;
        let stderr = String::from_utf8_lossy(&err.kept).into_owned();
        if status.success() {
            return Ok(stdout);
        }
        let source = ToolStderr(stderr);
        if source.0.contains("Failed to get") && source.0.contains("lock") {
            return Err(StorageError::ImageInUse {
                path: job.path.to_path_buf(),
                source,
            });
        }
        Err(StorageError::ToolFailed {
            tool,
            operation: job.operation,
            path: job.path.to_path_buf(),
            source,
        })
    }
}

/// One output pipe of qemu-img: what was kept of it, and whether it has ended.
struct Capture<R> {
    stream: R,
    /// Up to [`OUTPUT_CAP`] bytes; always empty when the stream carries progress lines.
    kept: Vec<u8>,
    /// With progress wanted: the line being read (at most 256 bytes kept).
    line: Option<Vec<u8>>,
    done: bool,
}

impl<R: Read + AsFd> Capture<R> {
    fn new(stream: R, progress: bool) -> Capture<R> {
        Capture {
            stream,
            kept: Vec::new(),
            line: progress.then(Vec::new),
            done: false,
        }
    }

    /// One `read` (the pipe is readable, so it does not block). Beyond [`OUTPUT_CAP`] the
    /// bytes are read and dropped, so the child never blocks on a full pipe. With a progress
    /// line buffer, every "(12.34/100%)" figure goes to `report`.
    fn read_some(&mut self, mut report: impl FnMut(f64)) {
        let mut buf = [0u8; 8192];
        let n = match self.stream.read(&mut buf) {
            Ok(0) => {
                self.done = true;
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(_) => {
                self.done = true;
                return;
            }
        };
        let bytes = buf.get(..n).unwrap_or_default();
        let Some(line) = self.line.as_mut() else {
            let room = usize::try_from(OUTPUT_CAP).unwrap_or(usize::MAX) - self.kept.len();
            self.kept
                .extend_from_slice(bytes.get(..room.min(n)).unwrap_or_default());
            return;
        };
        for &byte in bytes {
            if byte == b'\r' || byte == b'\n' {
                if let Some(percent) = parse_progress(&String::from_utf8_lossy(line)) {
                    report(percent);
                }
                line.clear();
            } else if line.len() < 256 {
                line.push(byte);
            }
        }
    }
}

/// Waits until a pipe that has not ended is readable, the process behind `exit_fd` exits,
/// or `limit` passes (`None`: no limit); says which pipes to read.
fn wait_for_any<O: AsFd, E: AsFd>(
    out: &Capture<O>,
    err: &Capture<E>,
    exit_fd: Option<&std::os::fd::OwnedFd>,
    limit: Option<Duration>,
) -> (bool, bool) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let timeout = limit.map(|limit| Timespec {
        tv_sec: i64::try_from(limit.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: limit.subsec_nanos().into(),
    });
    let mut fds = Vec::with_capacity(3);
    let mut slots = [None, None];
    for (slot, (fd, done)) in [
        (out.stream.as_fd(), out.done),
        (err.stream.as_fd(), err.done),
    ]
    .into_iter()
    .enumerate()
    {
        if !done {
            slots[slot] = Some(fds.len());
            fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
        }
    }
    if let Some(fd) = exit_fd {
        fds.push(PollFd::new(fd, PollFlags::IN));
    }
    match poll(&mut fds, timeout.as_ref()) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return (false, false),
        Err(_) => {
            // Cannot wait: read both (blocking), as reader threads would have.
            thread::sleep(POLL);
            return (!out.done, !err.done);
        }
    }
    let ready = |slot: Option<usize>| {
        slot.and_then(|i| fds.get(i))
            .is_some_and(|fd| !fd.revents().is_empty())
    };
    (ready(slots[0]), ready(slots[1]))
}

/// Parses one `qemu-img convert -p` progress line such as `    (12.34/100%)`.
pub(super) fn parse_progress(line: &str) -> Option<f64> {
    let inner = line.trim().strip_prefix('(')?.strip_suffix("/100%)")?;
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_parse() {
        assert_eq!(parse_progress("    (12.34/100%)"), Some(12.34));
        assert_eq!(parse_progress("(100.00/100%)"), Some(100.0));
        assert_eq!(parse_progress("Converting"), None);
        assert_eq!(parse_progress("(x/100%)"), None);
    }
}
