//! Making sure QEMU and runner processes do not outlive the test that started them.

use crate::cli::is_alive;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// Program names that [`kill_processes_mentioning`] may kill.
const KILLABLE_PROGRAMS: [&str; 2] = ["qemu-system-x86_64", "maqet-runner"];
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// Owns a child process (usually QEMU) and kills it when dropped, so a failing test leaks nothing.
#[derive(Debug)]
pub struct QemuProcessGuard {
    child: Child,
}

impl QemuProcessGuard {
    /// Takes ownership of `child`.
    pub fn new(child: Child) -> Self {
        Self { child }
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child itself, e.g. to take its stdout.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Whether the child has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for the child to exit on its own; `None` if it is still running.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => return None,
            }
        }
    }
}

impl Drop for QemuProcessGuard {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Kills (SIGKILL) every `qemu-system-x86_64` and `maqet-runner` process whose command line
/// contains `path`, waits for them to go, and returns how many were killed.
pub fn kill_processes_mentioning(path: &Path) -> usize {
    let needle = path.as_os_str().as_bytes();
    if needle.is_empty() {
        return 0;
    }
    let own_pid = std::process::id();
    let mut killed = Vec::new();
    for (pid, cmdline) in processes() {
        if pid == own_pid || !is_killable(&cmdline) || !contains(&cmdline, needle) {
            continue;
        }
        let Ok(raw_pid) = libc::pid_t::try_from(pid) else {
            continue;
        };
        // SAFETY: kill(2) has no memory-safety preconditions.
        if unsafe { libc::kill(raw_pid, libc::SIGKILL) } == 0 {
            killed.push(pid);
        }
    }
    let deadline = Instant::now() + REAP_TIMEOUT;
    while killed.iter().any(|&pid| is_alive(pid)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    killed.len()
}

/// Live `qemu-system-x86_64` processes whose command line contains `path`, e.g. a VM's
/// runtime directory (so a test can count the QEMUs of one VM).
pub fn qemu_pids_mentioning(path: &Path) -> Vec<u32> {
    let needle = path.as_os_str().as_bytes();
    processes()
        .into_iter()
        .filter(|(pid, cmdline)| {
            let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
            argv0.rsplit(|&b| b == b'/').next() == Some(b"qemu-system-x86_64".as_slice())
                && contains(cmdline, needle)
                && is_alive(*pid)
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// Every process as (pid, NUL-separated command line).
fn processes() -> Vec<(u32, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            Some((pid, cmdline))
        })
        .collect()
}

fn is_killable(cmdline: &[u8]) -> bool {
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    let program = argv0.rsplit(|&b| b == b'/').next().unwrap_or_default();
    KILLABLE_PROGRAMS
        .iter()
        .any(|name| program == name.as_bytes())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_qemu_and_runner_programs_are_killable() {
        assert!(is_killable(b"/usr/bin/qemu-system-x86_64\0-m\0M\0"));
        assert!(is_killable(b"maqet-runner\0--vm\0x\0"));
        assert!(!is_killable(b"/bin/sleep\0qemu-system-x86_64\0"));
        assert!(!is_killable(b""));
    }

    #[test]
    fn guard_kills_its_child_on_drop() {
        let child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id();
        drop(QemuProcessGuard::new(child));
        assert!(!is_alive(pid));
    }
}
