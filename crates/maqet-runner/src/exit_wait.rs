//! Waiting for a process to end without sleeping in steps: a pidfd becomes readable the moment
//! its process exits, so `maqet stop` sees QEMU (and then the runner) gone at once instead of at
//! the next 50 ms check. Where a pidfd cannot be had, the wait is the old fixed pause.

use std::os::fd::OwnedFd;
use std::time::Duration;

use maqet_state::ProcessIdentity;
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::process::is_alive;

/// How long to pause when the process has exited but is still listed (a zombie its parent has
/// not reaped yet), so callers that loop do not spin.
const REAP_PAUSE: Duration = Duration::from_millis(1);

/// Waits up to `limit` for `process` to end; returns whether it is gone.
pub(crate) async fn gone_within(process: &ProcessIdentity, limit: Duration) -> bool {
    let Some(fd) = open(process) else {
        if !is_alive(process) {
            return true;
        }
        tokio::time::sleep(limit).await;
        return !is_alive(process);
    };
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open (and the same descriptor) until
    // the AsyncFd is dropped at the end of this function.
    match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
        Ok(fd) => {
            if tokio::time::timeout(limit, fd.readable()).await.is_ok() && is_alive(process) {
                tokio::time::sleep(REAP_PAUSE.min(limit)).await;
            }
        }
        Err(_) => tokio::time::sleep(limit).await,
    }
    !is_alive(process)
}

/// A pidfd for `process`, when it still runs as that very process (not a reused pid).
fn open(process: &ProcessIdentity) -> Option<OwnedFd> {
    let pid = Pid::from_raw(i32::try_from(process.pid).ok()?)?;
    let fd = pidfd_open(pid, PidfdFlags::empty()).ok()?;
    // The pid may have been reused before the pidfd was opened: it must still be this process.
    is_alive(process).then_some(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn identity(pid: u32) -> ProcessIdentity {
        let start_time = crate::process::start_time(pid).expect("the child's start time");
        ProcessIdentity { pid, start_time }
    }

    #[tokio::test]
    async fn the_end_of_a_process_is_seen_at_once_and_a_running_one_waits_the_limit() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .expect("sleep runs");
        let process = identity(child.id());
        let reaper = std::thread::spawn(move || child.wait());
        let began = Instant::now();
        assert!(!gone_within(&process, Duration::from_millis(20)).await);
        assert!(began.elapsed() >= Duration::from_millis(20));
        while !gone_within(&process, Duration::from_secs(5)).await {}
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "{:?}",
            began.elapsed()
        );
        let _ = reaper.join();
        assert!(gone_within(&process, Duration::from_secs(5)).await);
    }
}
