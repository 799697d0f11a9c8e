//! Checking, before QEMU starts, that the host ports a VM forwards are free.

use std::net::{SocketAddrV4, TcpListener, UdpSocket};

use crate::config::forwards::PortForward;
use crate::{ErrorKind, MaqetError};

/// Fails (invalid input, exit 3) when a forwarded host port is already taken, naming it and
/// the process holding it when that can be found.
pub fn check_free(vm: &str, forwards: &[PortForward]) -> Result<(), MaqetError> {
    for forward in forwards {
        let addr = SocketAddrV4::new(forward.host_addr, forward.host);
        let taken = match forward.proto.as_str() {
            "udp" => UdpSocket::bind(addr).err(),
            _ => TcpListener::bind(addr).err(),
        };
        let Some(err) = taken else { continue };
        let holder = holder_of(forward)
            .map(|h| format!(" by {h}"))
            .unwrap_or_default();
        return Err(MaqetError::with_source(
            ErrorKind::InvalidInput,
            format!(
                "VM `{vm}` cannot forward host port {}/{} on {}: it is taken{holder}; pick another `host` port in `ports`",
                forward.host, forward.proto, forward.host_addr
            ),
            err,
        ));
    }
    Ok(())
}

/// The process holding the port (`pid 123 (qemu-system-x86)`), from /proc, when visible.
fn holder_of(forward: &PortForward) -> Option<String> {
    let table = if forward.proto == "udp" {
        "/proc/net/udp"
    } else {
        "/proc/net/tcp"
    };
    let text = std::fs::read_to_string(table).ok()?;
    let port = format!(":{:04X}", forward.host);
    let inode = text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local = fields.get(1)?;
        // TCP: only the listening socket (state 0A) holds the port.
        let listening = forward.proto == "udp" || fields.get(3) == Some(&"0A");
        (local.ends_with(&port) && listening).then(|| fields.get(9).map(|s| s.to_string()))?
    })?;
    let wanted = format!("socket:[{inode}]");
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = proc_entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| target.to_string_lossy() == wanted)
        });
        if holds {
            let name = std::fs::read_to_string(proc_entry.path().join("comm")).unwrap_or_default();
            return Some(format!("pid {pid} ({})", name.trim()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_port_is_refused_and_its_holder_named() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let forward = PortForward {
            host: port,
            guest: 22,
            proto: "tcp".into(),
            host_addr: std::net::Ipv4Addr::LOCALHOST,
        };
        let err = check_free("web", std::slice::from_ref(&forward)).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        let text = err.to_string();
        assert!(text.contains(&format!("host port {port}/tcp")), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(listener);
        check_free("web", &[forward]).unwrap();
    }
}
