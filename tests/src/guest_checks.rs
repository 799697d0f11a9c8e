//! Checks that end-to-end tests on real guests share: `maqet` commands that may take minutes,
//! what listens on a forwarded port and what answers there, the interface the guest put
//! slirp's address on, the host keys cloud-init printed on the console, the user's own key
//! pair, and domains the test defined in the test libvirtd.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::MaqetHome;
use crate::libvirtd::{remove_domain, tcp_listeners};

/// `mqt-NAME-PID`: a libvirt object name no other test run uses at the same time.
pub fn unique_name(name: &str) -> String {
    format!("mqt-{name}-{}", std::process::id())
}

/// A TCP port nothing listens on right now.
///
/// # Panics
/// When no loopback port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Runs a `maqet` command that may legitimately take up to `secs` seconds (plus a margin for
/// the process itself) and returns its output.
///
/// # Panics
/// When the command fails or outlives the margin.
pub fn maqet_slow(home: &MaqetHome, args: &[&str], secs: u64) -> Output {
    crate::cli::checked_with_guard(home.cmd(), home, args, secs)
}

/// Asserts that only 127.0.0.1 listens on `port`: not 0.0.0.0, `*` or an IPv6 address.
///
/// # Panics
/// When anything else (or nothing) listens there.
pub fn assert_loopback_only(port: u16) {
    assert_eq!(
        tcp_listeners(port),
        vec![format!("127.0.0.1:{port}")],
        "the forward must listen on 127.0.0.1 only"
    );
}

/// The first bytes the server on 127.0.0.1:`port` sends (sshd's version banner).
pub fn ssh_banner(port: u16) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut buffer = [0u8; 64];
    let read = stream.read(&mut buffer).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&buffer[..read]).into_owned())
}

/// Waits (up to two minutes) until sshd answers with its banner on 127.0.0.1:`port`.
///
/// # Panics
/// When it does not.
pub fn wait_for_ssh_banner(port: u16) -> String {
    let mut banner = Err(String::new());
    for _ in 0..60 {
        banner = ssh_banner(port);
        if banner.as_ref().is_ok_and(|b| b.starts_with("SSH-2.0-")) {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    match banner {
        Ok(b) if b.starts_with("SSH-2.0-") => b,
        other => panic!("sshd does not answer through 127.0.0.1:{port}: {other:?}"),
    }
}

/// The guest interface that holds slirp's 10.0.2.15, from `ip -o -4 addr show`.
pub fn interface_with_slirp_address(ip_output: &str) -> Option<String> {
    ip_output
        .lines()
        .find(|l| l.contains("inet 10.0.2.15/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_owned)
}

/// A key pair of the user's own in `~/.ssh` (the default `ssh_authorized_keys`); returns the
/// public key's `TYPE BASE64`.
///
/// # Panics
/// When `ssh-keygen` (openssh-client) cannot make it.
pub fn user_key(home: &MaqetHome) -> String {
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    let key = ssh.join("id_ed25519");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "must-show", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs (openssh-client)");
    assert!(made.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `TYPE BASE64` keys between cloud-init's host key markers in a serial log.
pub fn host_keys_on_console(log: &str) -> Vec<String> {
    let Some(start) = log.find("-----BEGIN SSH HOST KEY KEYS-----") else {
        return Vec::new();
    };
    let block = &log[start..];
    let end = block
        .find("-----END SSH HOST KEY KEYS-----")
        .unwrap_or(block.len());
    block[..end]
        .lines()
        .skip(1)
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words.len() >= 2).then(|| format!("{} {}", words[0], words[1]))
        })
        .collect()
}

/// Every file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if entry.file_type().unwrap().is_dir() {
                todo.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out
}

/// Domains a test defines in the test libvirtd: stopped and undefined when dropped, even when
/// the test panicked.
#[derive(Debug)]
pub struct DomainCleanup(pub Vec<String>);

impl Drop for DomainCleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            remove_domain(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interface_with_slirps_address_is_found() {
        let ip = "1: lo    inet 127.0.0.1/8 scope host lo\n\
                  2: ens4    inet 10.0.2.15/24 metric 1024 brd 10.0.2.255 scope global dynamic ens4\n";
        assert_eq!(interface_with_slirp_address(ip).as_deref(), Some("ens4"));
        assert_eq!(interface_with_slirp_address("1: lo inet 127.0.0.1/8"), None);
    }

    #[test]
    fn the_console_block_gives_its_keys_without_comments() {
        let log = "boot\n-----BEGIN SSH HOST KEY KEYS-----\r\necdsa-sha2-nistp256 AAAA1 root@deb\r\n\
                   ssh-ed25519 AAAA2 root@deb\r\n-----END SSH HOST KEY KEYS-----\r\nlogin:";
        assert_eq!(
            host_keys_on_console(log),
            ["ecdsa-sha2-nistp256 AAAA1", "ssh-ed25519 AAAA2"]
        );
        assert!(host_keys_on_console("no block").is_empty());
    }
}
