//! One file through the copy channel ([`super::channel`]): the host connects to the port's
//! socket, the guest agent starts the guest's end, the bytes stream, and the guest command's
//! exit status decides whether the copy worked.
//!
//! The port has no end-of-file from the guest, and a guest can write to it at any time, so
//! every copy out of the guest starts with a marker the host chose (`MAQET-COPY-…`): whatever
//! arrives before it is stale or hostile junk and is dropped (at most [`JUNK_LIMIT`] bytes).
//! The copy ends when the guest command has exited and the port has nothing more to give.
//! Copies into the guest start with a marker too, which the guest checks (reading it byte by
//! byte with `dd`) before it creates the file, so stale bytes are never written into one.
//! A guest end that fails or stalls is killed, so it cannot hold the port (a virtio port has
//! one opener at a time).

use std::io::{ErrorKind as IoKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use maqet_qmp::qga::types::ExecStatus;
use serde_json::json;

use super::channel::ChannelGuest;
use super::ssh_link::IDLE_LIMIT;
use crate::api::guest_agent::{AGENT_CALL_LIMIT, checked_exit};
use crate::{ErrorKind, MaqetError};

/// The most junk dropped before the marker of a copy out of the guest.
const JUNK_LIMIT: u64 = 64 * 1024 * 1024;
/// How long one socket read or write waits before the guest command's status is checked.
const TICK: Duration = Duration::from_millis(50);
/// The host's read and write size.
const BLOCK: usize = 1024 * 1024;

/// The guest end of a copy out: open the port, write the marker, then the file. (Redirections
/// on a group, not on `exec`: a failed one must give 90, not end the shell.)
const GUEST_SENDS: &str = r#"{ printf '%s' "$2" && exec cat -- "$3"; } >"$1" || exit 90"#;
/// The guest end of a copy in: check the marker, then write exactly SIZE bytes to the file.
/// A port reads as empty until QEMU has taken the host's connection, so an empty read is
/// retried for a few seconds.
const GUEST_TAKES: &str = r#"{
i=0
while m=$(dd bs=1 count=${#2} <&3 2>/dev/null); [ -z "$m" ] && [ $i -lt 50 ]; do
  i=$((i+1)); sleep 0.1 2>/dev/null || sleep 1
done
[ "$m" = "$2" ] || exit 91
exec head -c "$3" <&3 >"$4"
} 3<"$1" || exit 90"#;

fn failure(message: String) -> MaqetError {
    MaqetError::new(ErrorKind::Failure, message)
}

/// A marker no earlier copy used.
fn marker() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("MAQET-COPY-{}-{nanos:x}.", std::process::id())
}

/// Finds `marker` in what arrived so far; `Some(offset after it)`.
fn find_marker(seen: &[u8], marker: &[u8]) -> Option<usize> {
    seen.windows(marker.len())
        .position(|w| w == marker)
        .map(|at| at + marker.len())
}

impl ChannelGuest {
    fn connect(&self) -> Result<UnixStream, MaqetError> {
        let stream = UnixStream::connect(&self.socket).map_err(|e| {
            MaqetError::io(
                format!(
                    "cannot connect to the copy channel of VM `{}` ({})",
                    self.vm(),
                    self.socket.display()
                ),
                e,
            )
        })?;
        let set = |r: std::io::Result<()>| {
            r.map_err(|e| MaqetError::io("cannot set a timeout on the copy channel", e))
        };
        set(stream.set_read_timeout(Some(TICK)))?;
        set(stream.set_write_timeout(Some(TICK)))?;
        Ok(stream)
    }

    /// Starts `script` with `args` through `/bin/sh` in the guest; its pid.
    fn start(&mut self, script: &str, args: &[&str]) -> Result<i64, MaqetError> {
        let mut arg = vec!["-c", script, "sh"];
        arg.extend_from_slice(args);
        let reply = self.agent.call(
            "guest-exec",
            Some(json!({"path": "/bin/sh", "arg": arg, "capture-output": true})),
            AGENT_CALL_LIMIT,
        )?;
        let pid = reply.get("pid").and_then(|p| p.as_i64()).ok_or_else(|| {
            failure(format!(
                "the guest agent of VM `{}` answered `guest-exec` without a pid",
                self.vm()
            ))
        })?;
        // Noted so that the next copy can end it if this one is killed before it does.
        drop(std::fs::write(&self.pid_file, pid.to_string()));
        Ok(pid)
    }

    /// Forgets the guest end `pid` once it has ended.
    fn ended(&self) {
        drop(std::fs::remove_file(&self.pid_file));
    }

    /// The guest command's exit status once it has exited.
    fn exited(&mut self, pid: i64) -> Result<Option<i32>, MaqetError> {
        let status: ExecStatus = self.agent.call_as(
            "guest-exec-status",
            Some(json!({"pid": pid})),
            AGENT_CALL_LIMIT,
        )?;
        if !status.exited {
            return Ok(None);
        }
        Ok(Some(checked_exit(self.vm(), &status)?.shell_status()))
    }

    /// Ends the guest command `pid` so it does not hold the port (best effort).
    fn kill(&mut self, pid: i64) {
        let pid = pid.to_string();
        drop(self.agent.run_helper("kill", &["-9", &pid]));
    }

    /// Waits until the guest command `pid` exits; its status.
    fn wait_exit(&mut self, pid: i64, what: &str) -> Result<i32, MaqetError> {
        let deadline = Instant::now() + IDLE_LIMIT;
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(code) = self.exited(pid)? {
                return Ok(code);
            }
            if Instant::now() > deadline {
                self.kill(pid);
                return Err(self.stalled(what));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(TICK);
        }
    }

    /// The guest's end of a copy in did not read the copy's marker first.
    fn no_marker_seen(&self) -> MaqetError {
        failure(format!(
            "the guest's end of the copy channel of VM `{}` did not see the copy's marker (stale bytes in the port, or no connection); nothing was written, run the copy again",
            self.vm()
        ))
    }

    fn stalled(&self, what: &str) -> MaqetError {
        MaqetError::new(
            ErrorKind::Timeout,
            format!(
                "`{what}` in the guest of VM `{}` sent or took nothing through the copy channel for {} s and was stopped",
                self.vm(),
                IDLE_LIMIT.as_secs()
            ),
        )
    }

    /// Streams the guest file `src` to `sink`. `expected` is the size the guest reported: once
    /// that much arrived, the guest command's end is checked at once. `sink` refuses too much.
    pub(super) fn read_file(
        &mut self,
        src: &str,
        expected: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), MaqetError>,
    ) -> Result<(), MaqetError> {
        let mut stream = self.connect()?;
        let marker = marker();
        let port = self.port.clone();
        let pid = self.start(GUEST_SENDS, &[&port, &marker, src])?;
        let result = self
            .receive(&mut stream, pid, marker.as_bytes(), expected, sink)
            .and_then(|(synced, exit)| self.received(src, synced, exit));
        if result.is_err() {
            self.kill(pid);
        }
        self.ended();
        result
    }

    fn receive(
        &mut self,
        stream: &mut UnixStream,
        pid: i64,
        marker: &[u8],
        expected: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), MaqetError>,
    ) -> Result<(bool, i32), MaqetError> {
        let mut buf = vec![0u8; BLOCK];
        let mut before: Vec<u8> = Vec::new();
        let mut junk = 0u64;
        let mut synced = false;
        let mut got = 0u64;
        let mut exit: Option<i32> = None;
        let mut last_data = Instant::now();
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    return Err(failure(format!(
                        "the copy channel of VM `{}` closed during the copy (did QEMU end?)",
                        self.vm()
                    )));
                }
                Ok(n) => {
                    last_data = Instant::now();
                    let mut data = &buf[..n];
                    if !synced {
                        before.extend_from_slice(data);
                        match find_marker(&before, marker) {
                            Some(at) => {
                                synced = true;
                                junk += at as u64 - marker.len() as u64;
                                let rest = before.split_off(at);
                                before = rest;
                                data = &before[..];
                            }
                            None => {
                                let keep = before.len().min(marker.len() - 1);
                                junk += (before.len() - keep) as u64;
                                before.drain(..before.len() - keep);
                                if junk > JUNK_LIMIT {
                                    return Err(failure(format!(
                                        "the guest of VM `{}` wrote more than {JUNK_LIMIT} bytes into the copy channel before the copy began; nothing was written (the guest is not to be trusted)",
                                        self.vm()
                                    )));
                                }
                                continue;
                            }
                        }
                    }
                    got += data.len() as u64;
                    sink(data)?;
                    if synced {
                        before.clear();
                    }
                    if got >= expected && exit.is_none() {
                        // Everything reported arrived: look whether the guest's end is done
                        // (it may still send more, which the sink refuses).
                        exit = self.exited(pid)?;
                    }
                }
                Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => {
                    if exit.is_some() {
                        break;
                    }
                    exit = self.exited(pid)?;
                    if exit.is_none() && last_data.elapsed() > IDLE_LIMIT {
                        return Err(self.stalled("cat"));
                    }
                }
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(e) => {
                    return Err(MaqetError::io(
                        format!("cannot read the copy channel of VM `{}`", self.vm()),
                        e,
                    ));
                }
            }
        }
        match exit {
            Some(code) => Ok((synced, code)),
            None => Err(failure(
                "internal error: a channel copy ended unseen".into(),
            )),
        }
    }

    /// Whether a copy out worked, from whether the marker came and the guest's exit status.
    fn received(&self, src: &str, synced: bool, exit: i32) -> Result<(), MaqetError> {
        match exit {
            0 if synced => Ok(()),
            0 => Err(failure(format!(
                "the guest's end of the copy channel of VM `{}` exited without sending its marker; nothing was written",
                self.vm()
            ))),
            90 => Err(failure(format!(
                "the guest of VM `{}` could not open its copy port {}",
                self.vm(),
                self.port
            ))),
            code => Err(failure(format!(
                "`cat` in the guest of VM `{}` exited {code}; check that it can read {}",
                self.vm(),
                crate::text::escape_guest_text(src)
            ))),
        }
    }

    /// Streams `len` bytes of `file` into the guest file `target`; `progress` gets the bytes
    /// sent so far. Returns the bytes sent.
    pub(super) fn write_file(
        &mut self,
        target: &str,
        file: &mut std::fs::File,
        len: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, MaqetError> {
        let mut stream = self.connect()?;
        let marker = marker();
        let port = self.port.clone();
        let size = len.to_string();
        let pid = self.start(GUEST_TAKES, &[&port, &marker, &size, target])?;
        let result = self.send(&mut stream, pid, marker.as_bytes(), file, len, progress);
        match result {
            Ok(sent) => {
                // The socket stays open until the guest has read everything: QEMU drops what it
                // has not read yet when the host end closes.
                let exit = self.wait_exit(pid, "head");
                drop(stream);
                self.ended();
                match exit? {
                    0 => Ok(sent),
                    91 => Err(self.no_marker_seen()),
                    code => Err(failure(format!(
                        "writing {target} in the guest of VM `{}` failed (`head` exited {code}): check that its directory exists and is writable",
                        self.vm()
                    ))),
                }
            }
            Err(err) => {
                self.kill(pid);
                self.ended();
                Err(err)
            }
        }
    }

    fn send(
        &mut self,
        stream: &mut UnixStream,
        pid: i64,
        marker: &[u8],
        file: &mut std::fs::File,
        len: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, MaqetError> {
        let mut buf = vec![0u8; BLOCK];
        let mut block = marker.to_vec();
        let mut sent = 0u64;
        let mut last_move = Instant::now();
        let mut file_done = false;
        loop {
            if block.is_empty() {
                if file_done {
                    return Ok(sent);
                }
                let want = usize::try_from((len - sent).min(BLOCK as u64)).unwrap_or(BLOCK);
                let n = read_some(file, &mut buf[..want])?;
                if n == 0 {
                    if sent < len {
                        return Err(failure(format!(
                            "the host file ended after {sent} of its {len} bytes (did it shrink during the copy?)"
                        )));
                    }
                    file_done = true;
                    continue;
                }
                block.extend_from_slice(&buf[..n]);
                sent += n as u64;
                if sent >= len {
                    file_done = true;
                }
            }
            match stream.write(&block) {
                Ok(n) => {
                    block.drain(..n);
                    last_move = Instant::now();
                    progress(sent - block.len() as u64);
                }
                Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => {
                    if let Some(code) = self.exited(pid)? {
                        if code == 91 {
                            return Err(self.no_marker_seen());
                        }
                        return Err(failure(format!(
                            "the guest's end of the copy channel of VM `{}` stopped taking data (exit status {code}); check that the target directory exists and is writable",
                            self.vm()
                        )));
                    }
                    if last_move.elapsed() > IDLE_LIMIT {
                        return Err(self.stalled("head"));
                    }
                }
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(e) => {
                    return Err(MaqetError::io(
                        format!("cannot write to the copy channel of VM `{}`", self.vm()),
                        e,
                    ));
                }
            }
        }
    }
}

/// One read of the host file, retried when interrupted.
fn read_some(file: &mut std::fs::File, buf: &mut [u8]) -> Result<usize, MaqetError> {
    loop {
        match file.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == IoKind::Interrupted => {}
            Err(e) => return Err(MaqetError::io("cannot read the host file", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_found_after_junk_and_across_reads() {
        let marker = b"MAQET-COPY-1-ab.";
        assert_eq!(find_marker(b"junkMAQET-COPY-1-ab.data", marker), Some(20));
        assert_eq!(find_marker(b"MAQET-COPY-1-a", marker), None);
        assert_eq!(find_marker(b"MAQET-COPY-1-ab.", marker), Some(16));
        assert_ne!(marker.as_slice(), super::marker().as_bytes());
    }
}
