//! Process identity: a PID plus its start time, so a reused PID is never mistaken for ours.

use std::path::PathBuf;

use maqet_state::ProcessIdentity;

/// Start time of a process in clock ticks since boot (field 22 of `/proc/PID/stat`), or `None`
/// when the process does not exist or is a zombie.
pub fn start_time(pid: u32) -> Option<u64> {
    with_proc_file(pid, "stat", |stat| parse_stat(stat).map(|(_, start)| start))?
}

/// The command name (field 2, without its parentheses) and the start time of a `/proc/PID/stat`
/// text, or `None` for a zombie or a text that does not parse.
fn parse_stat(stat: &[u8]) -> Option<(&[u8], u64)> {
    // The command name is in parentheses and may contain spaces or parentheses.
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let name = stat.get(open + 1..close)?;
    let mut fields = stat
        .get(close + 1..)?
        .split(u8::is_ascii_whitespace)
        .filter(|field| !field.is_empty());
    let state = fields.next()?;
    if state == b"Z" || state == b"X" {
        return None;
    }
    // After the name come fields 3.. ; start time is field 22, i.e. the 20th after state.
    let start = std::str::from_utf8(fields.nth(18)?).ok()?.parse().ok()?;
    Some((name, start))
}

/// Calls `f` with the contents of `/proc/PID/<name>`, read through one 4 KiB stack buffer:
/// `/proc` files report a size of 0, so `std::fs::read` would `statx` and `lseek` the file and
/// then read it in steps growing from 32 bytes (up to nine system calls for a `cmdline`, where
/// this takes three: open, read, close). A read that fills less than the buffer is the whole
/// file: the kernel makes `stat` in one piece and copies `cmdline` until the buffer is full or
/// the arguments end, so only a longer file is read on into a heap buffer.
/// `maqet ls` reads such files for the processes of every running VM.
fn with_proc_file<R>(pid: u32, name: &str, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    use std::mem::MaybeUninit;

    use rustix::fs::{Mode, OFlags, open};
    use rustix::io::{Errno, read};
    let fd = open(
        format!("/proc/{pid}/{name}"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    // Not zeroed first: `read` says how much of it the kernel filled.
    const BUF: usize = 4096;
    let mut buf = [MaybeUninit::<u8>::uninit(); BUF];
    let mut contents: Option<Vec<u8>> = None;
    loop {
        let filled = match read(&fd, &mut buf[..]) {
            Ok((filled, _)) => filled,
            Err(Errno::INTR) => continue,
            Err(_) => return None,
        };
        let n = filled.len();
        match contents.as_mut() {
            None if n < BUF => return Some(f(filled)),
            None => contents = Some(filled.to_vec()),
            Some(_) if n == 0 => return contents.as_deref().map(f),
            Some(more) => more.extend_from_slice(filled),
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
    with_proc_file(pid, "cmdline", |raw| {
        raw.split(|&b| b == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect()
    })
}

/// Whether the recorded process runs and is the QEMU of the VM whose QEMU QMP socket is
/// `qemu_qmp_socket` (its command line names that socket). A reused PID that happens to have
/// the same start time, or any other program, is never taken for the VM's QEMU.
pub fn is_vm_qemu(identity: &ProcessIdentity, qemu_qmp_socket: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    // As QEMU's command line has it: commas doubled (its escape inside an option value).
    let mut socket = Vec::new();
    for &b in qemu_qmp_socket.as_os_str().as_bytes() {
        socket.push(b);
        if b == b',' {
            socket.push(b',');
        }
    }
    is_alive(identity)
        && with_proc_file(identity.pid, "cmdline", |raw| {
            raw.split(|&b| b == 0)
                .filter(|arg| !arg.is_empty())
                .any(|arg| {
                    socket.is_empty() || arg.windows(socket.len()).any(|w| w == socket.as_slice())
                })
        })
        .unwrap_or(false)
}

/// Whether the recorded process runs and is a `maqet-runner`: same PID and start time, and
/// the command name the kernel gave it at `exec` (the executable's file name, in the same read
/// of `/proc/PID/stat` as the start time) is `maqet-runner`. A runner never `exec`s again nor
/// renames itself, so this is the file name its `argv[0]` ends with.
pub fn is_runner(identity: &ProcessIdentity) -> bool {
    with_proc_file(identity.pid, "stat", |stat| {
        parse_stat(stat).is_some_and(|(name, start)| {
            start == identity.start_time && name == crate::locate::RUNNER_NAME.as_bytes()
        })
    })
    .unwrap_or(false)
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
    fn own_process_is_not_a_runner_and_stat_names_parse() {
        let me = identity_of(std::process::id()).unwrap();
        assert!(!is_runner(&me));
        let stat = b"42 (maqet-runner) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 777 1 1";
        assert_eq!(parse_stat(stat), Some((&b"maqet-runner"[..], 777)));
        let odd = b"42 (a) b) (c) R 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 9 1 1";
        assert_eq!(parse_stat(odd), Some((&b"a) b) (c"[..], 9)));
        let zombie = b"42 (x) Z 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 9 1 1";
        assert_eq!(parse_stat(zombie), None);
    }

    #[test]
    fn a_command_line_longer_than_the_stack_buffer_is_read_whole() {
        let long = "x".repeat(9000);
        // `sh` keeps its own command line while `sleep` runs (another command follows it).
        // Its first line says it runs: until then, right after `exec`, the kernel may not
        // have set up the new command line yet.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "echo ready; sleep 30; true", "sh", &long])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready, "ready\n");
        let args = cmdline(child.id());
        let _ = child.kill();
        let _ = child.wait();
        let args = args.unwrap();
        let lengths: Vec<usize> = args.iter().map(String::len).collect();
        assert_eq!(lengths.len(), 5, "{lengths:?}");
        assert_eq!(args[4], long);
    }

    #[test]
    fn missing_process_has_no_start_time() {
        assert_eq!(start_time(u32::MAX - 1), None);
    }
}
