//! One guest command of a `cp` over SSH: an `ssh` session process on the copy's connection,
//! its ssh error output kept for messages, and a watchdog that ends it when the guest sends or
//! takes nothing for a while (a guest that stalls must not hang the copy).

use std::io::Read;
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ssh_link::IDLE_LIMIT;
use crate::text::escape_guest_text;
use crate::{ErrorKind, MaqetError};

/// The exit status ssh gives for its own failures (the connection, not the command).
const SSH_FAILED: i32 = 255;
/// The most of ssh's own error output kept for a message.
pub(super) const STDERR_KEPT: u64 = 4096;

/// One guest command running as a session of the connection.
pub(super) struct Remote {
    child: Child,
    pub stdout: Option<ChildStdout>,
    pub stdin: Option<ChildStdin>,
    stderr: Option<JoinHandle<String>>,
    watchdog: Option<Watchdog>,
    reaped: bool,
}

impl Remote {
    /// Watches a started `ssh` session: its error output is read on the side, and it is
    /// killed after [`IDLE_LIMIT`] without data.
    pub fn watch(mut child: Child) -> Remote {
        let stderr = child.stderr.take().map(|stderr| {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut stderr = stderr;
                drop(stderr.by_ref().take(STDERR_KEPT).read_to_end(&mut kept));
                drop(std::io::copy(&mut stderr, &mut std::io::sink()));
                String::from_utf8_lossy(&kept).into_owned()
            })
        });
        let watchdog = Watchdog::start(child.id(), IDLE_LIMIT);
        Remote {
            stdout: child.stdout.take(),
            stdin: child.stdin.take(),
            child,
            stderr,
            watchdog: Some(watchdog),
            reaped: false,
        }
    }

    /// Notes that data moved, which restarts the idle limit.
    pub fn touch(&self) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.touch();
        }
    }

    /// Waits for the command's end: its exit status, or an error when the connection (not the
    /// command) failed or the guest stopped answering.
    pub fn finish(&mut self, vm: &str, what: &str) -> Result<i32, MaqetError> {
        drop(self.stdin.take());
        drop(self.stdout.take());
        let fired = self.watchdog.take().is_some_and(Watchdog::stop);
        let deadline = Instant::now() + IDLE_LIMIT;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if !fired && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                _ => {
                    drop(self.child.kill());
                    drop(self.child.wait());
                    break None;
                }
            }
        };
        self.reaped = true;
        let said = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        let code = status.and_then(|s| s.code());
        match code {
            Some(code) if code != SSH_FAILED && !fired => Ok(code),
            _ if fired || status.is_none() => Err(MaqetError::new(
                ErrorKind::Timeout,
                format!(
                    "`{what}` in the guest of VM `{}` sent or took nothing for {} s over SSH and was stopped",
                    vm,
                    IDLE_LIMIT.as_secs()
                ),
            )),
            _ => Err(MaqetError::new(
                ErrorKind::Failure,
                format!(
                    "the SSH connection to VM `{}` failed while running `{what}` (ssh: {})",
                    vm,
                    escape_guest_text(said.trim().lines().last().unwrap_or("no message"))
                ),
            )),
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if !self.reaped {
            if let Some(watchdog) = self.watchdog.take() {
                watchdog.stop();
            }
            drop(self.child.kill());
            drop(self.child.wait());
        }
    }
}

/// Kills a process that moved no data for a while. Stopped (and joined) before the process is
/// reaped, so it never signals a reused pid.
struct Watchdog {
    last: Arc<Mutex<Instant>>,
    stop: mpsc::Sender<()>,
    thread: JoinHandle<bool>,
}

impl Watchdog {
    fn start(pid: u32, limit: Duration) -> Watchdog {
        let last = Arc::new(Mutex::new(Instant::now()));
        let (stop, stopped) = mpsc::channel::<()>();
        let seen = Arc::clone(&last);
        let thread = std::thread::spawn(move || {
            loop {
                match stopped.recv_timeout(Duration::from_millis(250)) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return false,
                }
                let idle = seen.lock().map(|t| t.elapsed()).unwrap_or_default();
                if idle > limit {
                    let target = i32::try_from(pid)
                        .ok()
                        .and_then(rustix::process::Pid::from_raw);
                    if let Some(target) = target {
                        let _ =
                            rustix::process::kill_process(target, rustix::process::Signal::KILL);
                    }
                    return true;
                }
            }
        });
        Watchdog { last, stop, thread }
    }

    fn touch(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = Instant::now();
        }
    }

    /// Stops watching; whether it had killed the process.
    fn stop(self) -> bool {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or(false)
    }
}
