//! Running `qemu-img` with a time limit, capped output and optional progress reports.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
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
        let (percent_tx, percent_rx) = mpsc::channel();
        let want_progress = progress.is_some();
        let stdout_reader =
            thread::spawn(move || read_stdout(stdout, want_progress.then_some(percent_tx)));
        let stderr_reader = thread::spawn(move || read_capped(stderr));

        let deadline = job.limited.then(|| Instant::now() + self.timeout);
        // A pidfd turns "is qemu-img done yet?" into a wait that ends the moment it exits.
        let exit_fd = rustix::process::pidfd_open(
            rustix::process::Pid::from_child(&child),
            rustix::process::PidfdFlags::empty(),
        )
        .ok();
        let status = loop {
            match percent_rx.recv_timeout(POLL) {
                Ok(percent) => {
                    if let Some(report) = progress.as_mut() {
                        report(percent);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // No progress wanted, or stdout closed: wait for the exit itself.
                Err(mpsc::RecvTimeoutError::Disconnected) => wait_for_exit(exit_fd.as_ref(), POLL),
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(StorageError::ToolTimeout {
                        tool,
                        operation: job.operation,
                        path: job.path.to_path_buf(),
                        seconds: self.timeout.as_secs(),
                    });
                }
                Ok(None) => {}
                Err(source) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(StorageError::io("wait for", &self.binary, source));
                }
            }
        };
        let stdout = stdout_reader.join().unwrap_or_default();
        let stderr =
            String::from_utf8_lossy(&stderr_reader.join().unwrap_or_default()).into_owned();
        if let Some(report) = progress.as_mut() {
            for percent in percent_rx.try_iter() {
                report(percent);
            }
        }
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

fn read_capped(stream: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut stream = stream;
    let _ = (&mut stream).take(OUTPUT_CAP).read_to_end(&mut kept);
    // Drain the rest so the child never blocks on a full pipe.
    let _ = std::io::copy(&mut stream, &mut std::io::sink());
    kept
}

/// Reads stdout; with a sender, forwards every "(12.34/100%)" progress figure.
fn read_stdout(mut stream: impl Read, percents: Option<mpsc::Sender<f64>>) -> Vec<u8> {
    let Some(percents) = percents else {
        return read_capped(stream);
    };
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        for &byte in &buf[..n] {
            if byte == b'\r' || byte == b'\n' {
                if let Some(percent) = parse_progress(&String::from_utf8_lossy(&line)) {
                    let _ = percents.send(percent);
                }
                line.clear();
            } else if line.len() < 256 {
                line.push(byte);
            }
        }
    }
    Vec::new()
}

/// Parses one `qemu-img convert -p` progress line such as `    (12.34/100%)`.
pub(super) fn parse_progress(line: &str) -> Option<f64> {
    let inner = line.trim().strip_prefix('(')?.strip_suffix("/100%)")?;
    inner.parse().ok()
}

/// Waits up to `limit` for the process behind `exit_fd` to exit (sleeps without a pidfd).
fn wait_for_exit(exit_fd: Option<&std::os::fd::OwnedFd>, limit: Duration) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let Some(fd) = exit_fd else {
        thread::sleep(limit);
        return;
    };
    let timeout = Timespec {
        tv_sec: 0,
        tv_nsec: limit.subsec_nanos().into(),
    };
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    if poll(&mut fds, Some(&timeout)).is_err() {
        thread::sleep(limit);
    }
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
