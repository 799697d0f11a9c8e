//! `cp` through the VM's SSH forward, with the system's OpenSSH client.
//!
//! One copy opens one connection (an OpenSSH control master in a socket of the VM's private
//! runtime directory) and runs every guest command as a session on it, so the key exchange is
//! paid once. The connection is the one `maqet ssh` makes: the first-boot user with maqet's
//! key, the guest's host key checked against the `known_hosts` maqet learnt at first boot
//! (`StrictHostKeyChecking=yes`, no other known-hosts file, no user config). Commands run as
//! root through `sudo -n` when the user may, as the agent's do.
//!
//! Only bytes travel this way: where the host writes is decided by the same checked listings
//! and [`super::host_dir`] writer as on the agent path. Remote commands are single-quoted
//! words, helper output stops at [`HELPER_OUTPUT_LIMIT`], and a guest that sends or takes
//! nothing for [`IDLE_LIMIT`] is cut off.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use maqet_state::VmRecord;

use super::CHUNK;
use super::ssh_session::{Remote, STDERR_KEPT};
use crate::api::ssh::ssh_options;
use crate::first_boot::enabled;
use crate::text::escape_guest_text;
use crate::{ErrorKind, Maqet, MaqetError};

/// How long the guest's sshd gets to send its banner when `cp` probes it.
const PROBE_LIMIT: Duration = Duration::from_secs(3);
/// How long logging in may take (key exchange in a slow, emulated guest included).
const LOGIN_LIMIT: Duration = Duration::from_secs(30);
/// How long a guest command may send or take no data before it is cut off.
pub(super) const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// The most output of a helper command (`find`, `stat`) maqet reads, as on the agent path.
const HELPER_OUTPUT_LIMIT: u64 = 16 * 1024 * 1024;
/// Ciphers offered, fastest first for a guest without AES instructions (TCG's default CPU).
const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes128-ctr";

/// Why SSH cannot carry a copy.
#[derive(Debug, Clone)]
pub(super) struct Unavailable {
    /// What is missing or went wrong, as a sentence part.
    pub reason: String,
    /// Whether the guest showed a host key maqet does not know.
    pub host_key_refused: bool,
}

impl Unavailable {
    fn new(reason: String) -> Unavailable {
        Unavailable {
            reason,
            host_key_refused: false,
        }
    }
}

/// A logged-in SSH connection to a guest, closed when dropped.
pub(super) struct SshGuest {
    /// The VM's name, for messages.
    pub vm: String,
    /// Whether guest commands run as root (through `sudo -n`).
    pub as_root: bool,
    host: String,
    /// ssh's options for every session (the control socket, the checks).
    options: Vec<String>,
    control: PathBuf,
    master: Child,
}

/// Whether the VM is set up for SSH at all (first-boot identity and a forward written).
pub(super) fn has_ssh_forward(maqet: &Maqet, record: &VmRecord) -> bool {
    enabled(&record.config) && maqet.identity_files(record).read_endpoint().is_some()
}

/// `'word'`, with `'` written as `'\''`: one word for a POSIX shell, whatever it holds.
pub(super) fn shell_word(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Connects to `addr` and reads the first line; `Ok` when it is an SSH banner.
fn probe_banner(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, PROBE_LIMIT)
        .map_err(|e| format!("nothing answers on {addr} ({e})"))?;
    stream
        .set_read_timeout(Some(PROBE_LIMIT))
        .map_err(|e| format!("cannot wait for {addr} ({e})"))?;
    let mut banner = [0u8; 4];
    stream
        .read_exact(&mut banner)
        .map_err(|_| format!("the guest's sshd does not answer on {addr}"))?;
    if &banner != b"SSH-" {
        return Err(format!("what answers on {addr} is not an SSH server"));
    }
    Ok(())
}

impl SshGuest {
    /// Probes the guest's sshd and logs in; `Err` says why SSH cannot be used.
    pub(super) fn connect(maqet: &Maqet, record: &VmRecord) -> Result<SshGuest, Unavailable> {
        let vm = record.name.clone();
        if !enabled(&record.config) {
            return Err(Unavailable::new(format!(
                "VM `{vm}` has no SSH forward (no first-boot identity)"
            )));
        }
        let files = maqet.identity_files(record);
        let endpoint = files.read_endpoint().ok_or_else(|| {
            Unavailable::new(format!(
                "VM `{vm}` has not started with first-boot identity yet"
            ))
        })?;
        let addr = (endpoint.host.as_str(), endpoint.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                Unavailable::new(format!(
                    "the SSH address {}:{} does not resolve",
                    endpoint.host, endpoint.port
                ))
            })?;
        probe_banner(addr).map_err(Unavailable::new)?;
        if !maqet.learn_host_keys(record, &files) {
            return Err(Unavailable::new(format!(
                "the SSH host keys of VM `{vm}` are not known yet (`maqet wait {vm} --ssh` learns them)"
            )));
        }
        let control = maqet
            .vm_paths(record)
            .runtime_dir
            .join(format!("cp-{}.ssh", std::process::id()));
        drop(std::fs::remove_file(&control));
        let mut options: Vec<String> = [
            "-F",
            "none",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "Compression=no",
            "-c",
            CIPHERS,
            "-S",
        ]
        .map(String::from)
        .into();
        options.push(control.to_string_lossy().into_owned());
        options.extend(ssh_options(&endpoint, &files.known_hosts()));
        let master = Command::new("ssh")
            .args(&options)
            .args(["-M", "-N", "-o", "ControlPersist=no", "-o"])
            .arg(format!("ConnectTimeout={}", LOGIN_LIMIT.as_secs()))
            .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=6"])
            .args(["--", &endpoint.host])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Unavailable::new(format!(
                    "cannot run ssh ({e}); install OpenSSH's client (Debian: openssh-client)"
                ))
            })?;
        let mut guest = SshGuest {
            vm,
            as_root: false,
            host: endpoint.host.clone(),
            options,
            control,
            master,
        };
        guest.wait_for_login(addr)?;
        guest.as_root = guest
            .run_words(&["sudo", "-n", "true"], false)
            .is_ok_and(|(code, _)| code == 0);
        Ok(guest)
    }

    /// Waits until the control master has logged in (its socket exists).
    fn wait_for_login(&mut self, addr: SocketAddr) -> Result<(), Unavailable> {
        let deadline = Instant::now() + LOGIN_LIMIT;
        loop {
            if let Ok(Some(_)) = self.master.try_wait() {
                let mut err = String::new();
                if let Some(stderr) = self.master.stderr.take() {
                    drop(stderr.take(STDERR_KEPT).read_to_string(&mut err));
                }
                let said = err.trim().lines().last().unwrap_or("ssh failed").to_owned();
                let host_key_refused = err.contains("Host key verification failed")
                    || err.contains("HOST IDENTIFICATION HAS CHANGED");
                let reason = if host_key_refused {
                    format!(
                        "the guest's SSH host key is not the one maqet learnt at first boot, so the connection was refused (ssh: {}); if the guest's keys were changed on purpose, remove {} and run `maqet wait {} --ssh`",
                        escape_guest_text(&said),
                        self.known_hosts_hint(),
                        self.vm
                    )
                } else {
                    format!(
                        "cannot log in over SSH on {addr} (ssh: {})",
                        escape_guest_text(&said)
                    )
                };
                return Err(Unavailable {
                    reason,
                    host_key_refused,
                });
            }
            if std::fs::symlink_metadata(&self.control).is_ok() {
                if let Some(stderr) = self.master.stderr.take() {
                    // Drained so the master never blocks on a full pipe.
                    std::thread::spawn(move || {
                        drop(std::io::copy(&mut { stderr }, &mut std::io::sink()))
                    });
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Unavailable::new(format!(
                    "logging in over SSH on {addr} did not finish in {} s",
                    LOGIN_LIMIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn known_hosts_hint(&self) -> String {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix("UserKnownHostsFile="))
            .unwrap_or("the VM's known_hosts")
            .to_owned()
    }

    /// Starts `words` in the guest as one session of the connection, as root when `sudo` and
    /// the user may.
    fn spawn(&self, words: &[&str], stdin: bool, sudo: bool) -> Result<Remote, MaqetError> {
        let mut remote = String::new();
        if sudo && self.as_root {
            remote.push_str("sudo -n -- ");
        }
        let quoted: Vec<String> = words.iter().map(|w| shell_word(w)).collect();
        remote.push_str(&quoted.join(" "));
        let child = Command::new("ssh")
            .args(&self.options)
            .args(["-o", "ControlMaster=no", "--", &self.host, &remote])
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(crate::api::ssh_wait::ssh_client_missing)?;
        Ok(Remote::watch(child))
    }

    /// Runs `words` in the guest; its exit status and (bounded) stdout. With `sudo` false the
    /// words run as the logged-in user.
    fn run_words(&self, words: &[&str], sudo: bool) -> Result<(i32, Vec<u8>), MaqetError> {
        let mut remote = self.spawn(words, false, sudo)?;
        let mut out = Vec::new();
        if let Some(stdout) = remote.stdout.take() {
            stdout
                .take(HELPER_OUTPUT_LIMIT + 1)
                .read_to_end(&mut out)
                .map_err(|e| self.lost(words[0], e))?;
        }
        if out.len() as u64 > HELPER_OUTPUT_LIMIT {
            return Err(MaqetError::new(
                ErrorKind::Failure,
                format!(
                    "the output of `{}` in the guest of VM `{}` passed {} MiB over SSH, so maqet does not rely on it",
                    words[0],
                    self.vm,
                    HELPER_OUTPUT_LIMIT >> 20
                ),
            ));
        }
        let code = remote.finish(&self.vm, words[0])?;
        Ok((code, out))
    }

    /// Runs a short helper command in the guest (`test`, `find`, `stat`, `mkdir`, `ln`,
    /// `chmod`); its exit status and stdout.
    pub(super) fn run_helper(
        &mut self,
        path: &str,
        args: &[&str],
    ) -> Result<(i32, Vec<u8>), MaqetError> {
        let mut words = vec![path];
        words.extend_from_slice(args);
        self.run_words(&words, true)
    }

    /// Streams the guest file `path` (`cat`) to `chunk`, which may stop it with an error.
    pub(super) fn read_file(
        &mut self,
        path: &str,
        chunk: &mut dyn FnMut(&[u8]) -> Result<(), MaqetError>,
    ) -> Result<(), MaqetError> {
        let mut remote = self.spawn(&["cat", "--", path], false, true)?;
        let mut buf = vec![0u8; CHUNK];
        if let Some(mut stdout) = remote.stdout.take() {
            loop {
                let n = match stdout.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.lost("cat", e)),
                };
                remote.touch();
                chunk(&buf[..n])?;
            }
        }
        match remote.finish(&self.vm, "cat")? {
            0 => Ok(()),
            code => Err(MaqetError::new(
                ErrorKind::Failure,
                format!(
                    "cannot read {} in the guest of VM `{}` over SSH (`cat` exited {code}); check that it exists and is readable",
                    escape_guest_text(path),
                    self.vm
                ),
            )),
        }
    }

    /// Writes everything `source` holds to the guest file `path` (`cat > PATH`), calling
    /// `sent` with the bytes sent so far.
    pub(super) fn write_file(
        &mut self,
        path: &str,
        source: &mut dyn Read,
        sent: &mut dyn FnMut(u64),
    ) -> Result<(), MaqetError> {
        let mut remote = self.spawn(&["sh", "-c", r#"cat > "$1""#, "sh", path], true, true)?;
        let mut buf = vec![0u8; CHUNK];
        let mut done = 0u64;
        if let Some(mut stdin) = remote.stdin.take() {
            loop {
                let n = match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(MaqetError::io("cannot read the file to copy", e)),
                };
                if let Err(e) = stdin.write_all(&buf[..n]) {
                    drop(stdin);
                    let _ = remote.finish(&self.vm, "cat");
                    return Err(self.lost("cat", e));
                }
                remote.touch();
                done += n as u64;
                sent(done);
            }
        }
        match remote.finish(&self.vm, "cat")? {
            0 => Ok(()),
            code => Err(MaqetError::new(
                ErrorKind::Failure,
                format!(
                    "cannot write {} in the guest of VM `{}` over SSH (`cat` exited {code}); check that its directory exists and is writable",
                    escape_guest_text(path),
                    self.vm
                ),
            )),
        }
    }

    fn lost(&self, what: &str, err: std::io::Error) -> MaqetError {
        MaqetError::with_source(
            ErrorKind::Failure,
            format!(
                "the SSH session running `{what}` in the guest of VM `{}` broke off",
                self.vm
            ),
            err,
        )
    }
}

impl Drop for SshGuest {
    fn drop(&mut self) {
        drop(self.master.kill());
        drop(self.master.wait());
        drop(std::fs::remove_file(&self.control));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_keep_quotes_spaces_and_newlines_inside_one_word() {
        assert_eq!(shell_word("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("$(rm -rf /)\n"), "'$(rm -rf /)\n'");
        let out = Command::new("sh")
            .args(["-c", &format!("printf %s {}", shell_word("a'b $HOME\n`x`"))])
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"a'b $HOME\n`x`");
    }

    #[test]
    fn a_port_without_an_ssh_server_is_not_taken_for_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.write_all(b"HTTP/1.0 400\r\n").unwrap();
        });
        let err = probe_banner(addr).unwrap_err();
        assert!(err.contains("not an SSH server"), "{err}");
        server.join().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        assert!(probe_banner(addr).is_err());
    }
}
