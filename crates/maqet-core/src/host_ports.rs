//! Host ports a VM forwards: free before QEMU starts, not declared by another VM at `add`,
//! `apply` and `clone`, and the error for a start that lost a race for one.

use std::net::{SocketAddrV4, TcpListener, UdpSocket};

use maqet_state::VmRecord;
use serde_json::Value;

use crate::MaqetError;
use crate::config::VmConfig;
use crate::config::forwards::PortForward;

/// What QEMU prints when it cannot bind a `hostfwd` rule's host port.
const QEMU_HOSTFWD_REFUSAL: &str = "Could not set up host forwarding rule";

/// The forwards of a VM config's `ports` (none when it has no valid `ports`).
pub fn declared(config: &Value) -> Vec<PortForward> {
    VmConfig::from_value(config).ports
}

/// Whether two forwards open the same host port (same protocol and port, and the same
/// address or one of them on every address).
pub(crate) fn collide(a: &PortForward, b: &PortForward) -> bool {
    a.host == b.host
        && a.proto == b.proto
        && (a.host_addr == b.host_addr
            || a.host_addr.is_unspecified()
            || b.host_addr.is_unspecified())
}

/// Fails (exit 3) when one of `forwards` opens a host port that another registered VM (any of
/// `others` but `own_id`) also declares, naming both; `--force` is the way around it, and
/// `anyway` says what it does (`add the VM anyway`).
pub fn check_not_declared(
    forwards: &[PortForward],
    others: &[VmRecord],
    own_id: Option<&str>,
    anyway: &str,
) -> Result<(), MaqetError> {
    for other in others.iter().filter(|vm| Some(vm.id.as_str()) != own_id) {
        for theirs in declared(&other.config) {
            if let Some(ours) = forwards.iter().find(|f| collide(f, &theirs)) {
                return Err(MaqetError::PortForwarded {
                    port: ours.host,
                    proto: ours.proto.clone(),
                    addr: ours.host_addr,
                    other: other.name.clone(),
                    anyway: anyway.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// For a start QEMU refused (`qemu_output` is what it printed): when it could not bind a
/// forwarded host port (another process took it after maqet's check), the error `check_free`
/// gives for that port now, else one naming the port from QEMU's message. `None` when the
/// refusal was about something else.
pub fn lost_race_error(
    vm: &str,
    forwards: &[PortForward],
    qemu_output: &str,
) -> Option<MaqetError> {
    if !qemu_output.contains(QEMU_HOSTFWD_REFUSAL) {
        return None;
    }
    let refused: Vec<&PortForward> = forwards
        .iter()
        .filter(|f| qemu_output.contains(&f.hostfwd()))
        .collect();
    let suspects: Vec<PortForward> = if refused.is_empty() {
        forwards.to_vec()
    } else {
        refused.into_iter().cloned().collect()
    };
    if let Err(err) = check_free(vm, &suspects) {
        return Some(err);
    }
    let ports: Vec<String> = suspects
        .iter()
        .map(|f| format!("{}/{} on {}", f.host, f.proto, f.host_addr))
        .collect();
    Some(MaqetError::PortLost {
        vm: vm.to_string(),
        ports,
    })
}

/// How often a port that is busy with no process holding it is probed again: another maqet
/// checking the same port holds it for a moment only, and that is not a holder to refuse for.
const TRANSIENT_PROBES: u32 = 8;
const TRANSIENT_PROBE_PAUSE: std::time::Duration = std::time::Duration::from_millis(25);

/// Fails (invalid input, exit 3) when a forwarded host port is already taken, naming it and
/// the process holding it when that can be found.
pub fn check_free(vm: &str, forwards: &[PortForward]) -> Result<(), MaqetError> {
    for forward in forwards {
        let (err, holder) = match busy_with_holder(forward) {
            None => continue,
            Some(found) => found,
        };
        return Err(MaqetError::PortTaken {
            vm: vm.to_string(),
            port: forward.host,
            proto: forward.proto.clone(),
            addr: forward.host_addr,
            holder,
            source: err,
        });
    }
    Ok(())
}

/// Binds the forward's host port once: the bind error when it is taken.
fn probe(forward: &PortForward) -> Option<std::io::Error> {
    let addr = SocketAddrV4::new(forward.host_addr, forward.host);
    match forward.proto.as_str() {
        "udp" => UdpSocket::bind(addr).err(),
        _ => TcpListener::bind(addr).err(),
    }
}

/// `None` when the port is free; else the bind error and the holding process when one is
/// visible. A port busy with no holder to be seen (another start's own probe) is probed again
/// for a moment before it counts as taken.
fn busy_with_holder(forward: &PortForward) -> Option<(std::io::Error, Option<String>)> {
    let mut err = probe(forward)?;
    for _ in 0..TRANSIENT_PROBES {
        if let Some(holder) = holder_of(forward) {
            return Some((err, Some(holder)));
        }
        std::thread::sleep(TRANSIENT_PROBE_PAUSE);
        err = probe(forward)?;
    }
    let holder = holder_of(forward);
    Some((err, holder))
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

    fn forward(host_addr: [u8; 4], host: u16, proto: &str) -> PortForward {
        PortForward {
            host,
            guest: 22,
            proto: proto.into(),
            host_addr: host_addr.into(),
        }
    }

    #[test]
    fn the_same_port_collides_on_the_same_or_every_address_only() {
        let local = forward([127, 0, 0, 1], 7001, "tcp");
        assert!(collide(&local, &forward([127, 0, 0, 1], 7001, "tcp")));
        assert!(collide(&local, &forward([0, 0, 0, 0], 7001, "tcp")));
        assert!(!collide(&local, &forward([127, 0, 0, 2], 7001, "tcp")));
        assert!(!collide(&local, &forward([127, 0, 0, 1], 7001, "udp")));
        assert!(!collide(&local, &forward([127, 0, 0, 1], 7002, "tcp")));
    }

    #[test]
    fn only_a_hostfwd_refusal_is_a_lost_race() {
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let forwards = [forward([127, 0, 0, 1], port, "tcp")];
        assert!(lost_race_error("web", &forwards, "qemu: -m banana: bad size").is_none());
        let said = format!(
            "qemu: -netdev user: Could not set up host forwarding rule '{}'",
            forwards[0].hostfwd()
        );
        let err = lost_race_error("web", &forwards, &said).unwrap();
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.to_string().contains(&format!("host port {port}/tcp")),
            "{err}"
        );
    }
}
