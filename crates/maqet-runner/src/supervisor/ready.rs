//! Detaching from the starter and reporting to it through the ready pipe (stdout).

use std::io::Write;
use std::os::fd::AsRawFd;

use maqet_runner::{FailureKind, ReadyLine, StartFailure, Started};

/// Leaves the starter's process group and session: forks, the parent exits at once (so the
/// starter can reap it), and the child becomes a session leader without a terminal.
///
/// Must run before any thread exists.
pub fn detach() -> std::io::Result<()> {
    // SAFETY: called from main before the async runtime or any other thread is created, so the
    // child is a faithful single-threaded copy; the parent only calls `_exit`.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            rustix::process::setsid()?;
            Ok(())
        }
        // SAFETY: `_exit` ends the parent without running destructors or atexit handlers.
        _ => unsafe { libc::_exit(0) },
    }
}

/// Points `fd` at `/dev/null` (so a pipe or terminal is no longer held open).
pub fn redirect_to_null(fd: i32, write: bool) -> std::io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .open("/dev/null")?;
    redirect(&null, fd)
}

/// Makes `fd` refer to `file` (dup2).
pub fn redirect(file: &impl AsRawFd, fd: i32) -> std::io::Result<()> {
    // SAFETY: dup2 on two valid descriptors; `fd` is one of the standard streams.
    if unsafe { libc::dup2(file.as_raw_fd(), fd) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The write end of the ready pipe: the runner's stdout until the final report.
#[derive(Debug, Default)]
pub struct ReadyPipe {
    done: bool,
}

impl ReadyPipe {
    /// Sends one line; a starter that gave up (closed pipe) is not an error.
    pub fn send(&mut self, line: &ReadyLine) {
        if self.done {
            return;
        }
        let mut out = std::io::stdout().lock();
        drop(
            out.write_all(line.to_line().as_bytes())
                .and_then(|()| out.flush()),
        );
    }

    /// Reports success and closes the pipe.
    pub fn ready(&mut self, started: Started) {
        self.send(&ReadyLine::Ready(started));
        self.close();
    }

    /// Reports a failure and closes the pipe.
    pub fn failed(&mut self, kind: FailureKind, message: String, detail: String) {
        self.send(&ReadyLine::Failed(StartFailure {
            kind,
            message,
            detail,
        }));
        self.close();
    }

    fn close(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            drop(redirect_to_null(1, true));
        }
    }
}
