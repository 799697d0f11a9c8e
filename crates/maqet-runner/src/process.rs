//! Process identity: a PID plus its start time, so a reused PID is never mistaken for ours.

use std::path::PathBuf;

use maqet_state::ProcessIdentity;

/// Start time of a process in clock ticks since boot (field 22 of `/proc/PID/stat`), or `None`
/// when the process does not exist or is a zombie.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = String::from_utf8(read_proc_file(pid, "stat")?).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or parentheses.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // After the name come fields 3.. ; start time is field 22, i.e. the 20th after state.
    fields.nth(18)?.parse().ok()
}

/// The contents of `/proc/PID/<name>`, read through one 4 KiB stack buffer: `/proc` files
/// report a size of 0, so `std::fs::read` would `statx` and `lseek` the file and then read it in
/// steps growing from 32 bytes (up to nine system calls for a `cmdline`, where this takes four).
/// `maqet ls` reads two such files per process of every running VM.
fn read_proc_file(pid: u32, name: &str) -> Option<Vec<u8>> {
    use std::io::{ErrorKind, Read};
    let mut file = std::fs::File::open(format!("/proc/{pid}/{name}")).ok()?;
    let mut contents = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(contents),
            Ok(n) => contents.extend_from_slice(buf.get(..n)?),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// The identity of a live process.
pub fn identity_of(pid: u32) -> Option<ProcessIdentity> {
    start_time(pid).map(|start_time| ProcessIdentity { pid, start_time })
}

/// Whether the recorded process still runs (same PID and same start time, not a zombie).
pub fn is_alive(identity: &ProcessIdentity) -> bool {
    start_time(identity.pid) == Some(identity.start_time)
}

/// The executable of a process, when readable.
pub fn executable(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// The command line of a process, arguments separated, when readable.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = read_proc_file(pid, "cmdline")?;
    Some(
        raw.split(|&b| b == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect(),
    )
}

/// Whether the recorded process runs and is the QEMU of the VM whose QEMU QMP socket is
/// `qemu_qmp_socket` (its command line names that socket). A reused PID that happens to have
/// the same start time, or any other program, is never taken for the VM's QEMU.
pub fn is_vm_qemu(identity: &ProcessIdentity, qemu_qmp_socket: &std::path::Path) -> bool {
    let socket = qemu_qmp_socket.to_string_lossy().replace(',', ",,");
    is_alive(identity)
        && cmdline(identity.pid).is_some_and(|args| args.iter().any(|a| a.contains(&socket)))
}

/// Whether the recorded process runs and is a `maqet-runner`.
pub fn is_runner(identity: &ProcessIdentity) -> bool {
    is_alive(identity)
        && cmdline(identity.pid)
            .and_then(|args| args.into_iter().next())
            .is_some_and(|argv0| argv0.rsplit('/').next() == Some(crate::locate::RUNNER_NAME))
}

/// A signal maqet sends to its processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// `SIGTERM`: QEMU shuts down cleanly (its SHUTDOWN event says `host-signal`).
    Terminate,
    /// `SIGKILL`: the process ends at once.
    Kill,
}

/// Sends `signal` to the process only if it is still the recorded one; says whether it was sent.
///
/// The process is pinned with a pidfd first and its start time checked afterwards, so a PID
/// reused between the check and the signal can never be hit.
pub fn send_signal(identity: &ProcessIdentity, signal: StopSignal) -> std::io::Result<bool> {
    use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
    let Some(pid) = i32::try_from(identity.pid).ok().and_then(Pid::from_raw) else {
        return Ok(false);
    };
    let pidfd = match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return Ok(false),
        Err(err) => return Err(err.into()),
    };
    if !is_alive(identity) {
        return Ok(false);
    }
    let signal = match signal {
        StopSignal::Terminate => Signal::TERM,
        StopSignal::Kill => Signal::KILL,
    };
    match pidfd_send_signal(&pidfd, signal) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_a_changed_start_time_is_not() {
        let me = identity_of(std::process::id()).expect("own process has a start time");
        assert!(is_alive(&me));
        let other = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!is_alive(&other));
    }

    #[test]
    fn signal_is_not_sent_to_a_process_whose_start_time_differs() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let real = identity_of(child.id()).unwrap();
        let wrong = ProcessIdentity {
            start_time: real.start_time + 7,
            ..real
        };
        assert!(!send_signal(&wrong, StopSignal::Kill).unwrap());
        assert!(child.try_wait().unwrap().is_none(), "sleep must still run");
        assert!(send_signal(&real, StopSignal::Kill).unwrap());
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }

    #[test]
    fn cmdline_splits_arguments() {
        let args = cmdline(std::process::id()).unwrap();
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_string_lossy();
        assert!(args[0].ends_with(&*name), "{args:?}");
    }

    #[test]
    fn missing_process_has_no_start_time() {
        assert_eq!(start_time(u32::MAX - 1), None);
    }
}
