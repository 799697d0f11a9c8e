//! `cp` through the VM's copy channel: a second virtio-serial port (`org.maqet.copy.0`, next to
//! the guest agent's) whose host end is a socket QEMU serves in the VM's private runtime
//! directory (`copy.sock`).
//!
//! The port is a raw byte pipe. The guest agent only starts the guest's end of one file's
//! copy (`cat FILE > PORT`, `head -c SIZE < PORT > FILE`) and reports how it ended; the bytes
//! travel through the port ([`super::channel_stream`]). Names, sizes and where the host
//! writes are decided exactly as on the other transports (the checked listings and the
//! [`super::host_dir`] writer): the channel only replaces the agent's 1 MiB base64 chunks.
//!
//! One copy at a time uses a VM's channel: the copy holds `copy.lock` in the runtime directory
//! while it is connected. `--via auto` passes the channel over when another copy holds it (and
//! says so); `--via channel` waits. Before the first copy the guest command that finds the port
//! (by its name in `/sys/class/virtio-ports`, so it works with and without udev) also checks
//! that it can be opened and that `cat`, `head` and `dd` exist.

use std::path::PathBuf;
use std::time::Duration;

use maqet_runner::layout::COPY_PORT_NAME;
use maqet_state::VmRecord;

use crate::api::guest::GuestAgent;
use crate::config::VmConfig;
use crate::{Maqet, MaqetError};

/// The guest command that finds the copy port: prints its device path, or exits 2 (no such
/// port), 3 (it cannot be opened: another program holds it) or 4 (a tool is missing). `$2` is
/// the guest pid of an earlier copy's guest end that may still hold the port (its maqet was
/// killed); it is ended only if it holds the port open.
const FIND_PORT: &str = r#"for t in cat head dd readlink; do command -v "$t" >/dev/null 2>&1 || exit 4; done
for d in /sys/class/virtio-ports/*; do
  if [ "$(cat "$d/name" 2>/dev/null)" = "$1" ]; then
    p="/dev/${d##*/}"
    if [ -n "$2" ] && ! (true >"$p") 2>/dev/null; then
      for f in /proc/"$2"/fd/*; do
        [ "$(readlink "$f" 2>/dev/null)" = "$p" ] && kill -9 "$2" 2>/dev/null && sleep 1 && break
      done
    fi
    (true >"$p") 2>/dev/null || exit 3
    printf '%s\n' "$p"
    exit 0
  fi
done
exit 2"#;

/// How long between attempts while `--via channel` waits for another copy's lock.
const LOCK_RETRY: Duration = Duration::from_millis(100);

/// A VM's copy channel, locked for this copy, with the guest agent that drives its guest end.
pub(crate) struct ChannelGuest {
    /// The guest agent (guest commands, helpers).
    pub agent: GuestAgent,
    /// The host end: QEMU's socket.
    pub(super) socket: PathBuf,
    /// The port's device in the guest, e.g. `/dev/vport0p2`.
    pub(super) port: String,
    /// Where the guest pid of the running guest end is noted (`copy.pid`).
    pub(super) pid_file: PathBuf,
    /// The lock held while this copy uses the channel.
    _lock: std::fs::File,
}

/// Whether the VM's config gives it a copy channel.
pub(super) fn configured(record: &VmRecord) -> bool {
    VmConfig::from_value(&record.config).has_copy_channel()
}

/// Whether a guest's answer is a virtio port device path (`/dev/vportNpM`).
fn is_port_device(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("/dev/vport") else {
        return false;
    };
    let Some((dev, port)) = rest.split_once('p') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    digits(dev) && digits(port)
}

impl ChannelGuest {
    /// Opens VM `vm`'s copy channel: checks the config and the socket, takes the channel's
    /// lock (waiting for another copy when `wait`) and finds the port in the guest.
    pub(super) fn open(maqet: &Maqet, vm: &str, wait: bool) -> Result<ChannelGuest, MaqetError> {
        let record = maqet.vm_record(vm)?;
        if !configured(&record) {
            let reason = if VmConfig::from_value(&record.config).guest_agent {
                "its config sets `copy_channel: false`"
            } else {
                "it has no guest agent (`guest_agent: true` adds the agent and the channel)"
            };
            return Err(MaqetError::NoCopyChannel {
                vm: record.name,
                reason: reason.into(),
            });
        }
        let (record, mut agent) = maqet.guest_agent(vm)?;
        let paths = maqet.vm_paths(&record);
        let socket = paths.copy_socket();
        if !socket.exists() {
            return Err(MaqetError::NoCopyChannel {
                vm: record.name.clone(),
                reason: format!(
                    "it was started before maqet added the channel; restart it (`maqet stop {0}`, `maqet start {0}`)",
                    record.name
                ),
            });
        }
        let lock = take_lock(maqet, &paths.copy_lock(), &record.name, wait)?;
        let pid_file = paths.copy_pid_file();
        let stale = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .map(|pid| pid.to_string())
            .unwrap_or_default();
        let (code, out) =
            agent.run_helper("/bin/sh", &["-c", FIND_PORT, "sh", COPY_PORT_NAME, &stale])?;
        let unusable = |reason: String| MaqetError::CopyChannelUnusable {
            vm: record.name.clone(),
            reason,
        };
        let answer = String::from_utf8_lossy(&out);
        let port = answer.trim_end_matches('\n');
        match code {
            0 if is_port_device(port) => Ok(ChannelGuest {
                agent,
                socket,
                port: port.to_owned(),
                pid_file,
                _lock: lock,
            }),
            0 => Err(unusable(
                "the guest named its port with something that is not a virtio port device".into(),
            )),
            2 => Err(unusable(format!(
                "the guest has no virtio port named {COPY_PORT_NAME} (its kernel lacks the virtio_console driver?)"
            ))),
            3 => Err(unusable(format!(
                "another program in the guest holds the port {COPY_PORT_NAME} open (an earlier copy that was killed? it ends when the guest's `cat` or `head` does)"
            ))),
            4 => Err(unusable(
                "the guest lacks `cat`, `head` or `dd`, which the channel's guest end runs".into(),
            )),
            127 | 126 => Err(unusable("the guest cannot run /bin/sh".into())),
            code => Err(unusable(format!(
                "looking for the port in the guest failed (/bin/sh exited {code})"
            ))),
        }
    }

    /// The VM's name.
    pub fn vm(&self) -> &str {
        &self.agent.name
    }
}

/// Takes the channel lock `path`; when another copy holds it, waits (`wait`) or fails.
fn take_lock(
    maqet: &Maqet,
    path: &std::path::Path,
    vm: &str,
    wait: bool,
) -> Result<std::fs::File, MaqetError> {
    use rustix::fs::{FlockOperation, flock};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| MaqetError::io(format!("cannot open the lock file {}", path.display()), e))?;
    let mut said = false;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) if wait => {
                if !said {
                    maqet.progress(&format!(
                        "waiting for another `maqet cp` to finish with the copy channel of VM `{vm}`"
                    ));
                    said = true;
                }
                std::thread::sleep(LOCK_RETRY);
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(MaqetError::CopyChannelUnusable {
                    vm: vm.to_owned(),
                    reason: "another `maqet cp` is using it".into(),
                });
            }
            Err(e) => {
                return Err(MaqetError::io(
                    format!("cannot lock {}", path.display()),
                    std::io::Error::from(e),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_virtio_port_devices_are_taken_from_the_guest() {
        assert!(is_port_device("/dev/vport0p2"));
        assert!(is_port_device("/dev/vport12p31"));
        for bad in [
            "/dev/vport0p",
            "/dev/vportp2",
            "/dev/sda",
            "/dev/vport0p2/../../etc/passwd",
            "/dev/vport0p2\n/dev/vport0p3",
            "",
        ] {
            assert!(!is_port_device(bad), "{bad:?}");
        }
    }
}
