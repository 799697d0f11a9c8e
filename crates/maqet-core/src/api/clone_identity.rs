//! What a clone must not share with its source: its host ports and its guest identity.
//!
//! - Host ports: each `ports` entry of the source gets the next host port above it that no
//!   VM in the registry declares (on the same address or on every address, the same
//!   collision `add` refuses) and that nothing listens on now (2222 becomes 2223, ...),
//!   so source and clone can run together; with no such port left, the forward is dropped
//!   with a note. Forwards written by hand inside `arguments` (`hostfwd=`) are not rewritten:
//!   a note says so.
//! - Host name: first-boot identity names the guest after the VM unless the config sets
//!   `hostname`; a source's explicit `hostname` becomes the clone's own name, with a note.
//! - cloud-init instance: the first-boot files (the seed and the stored instance-id) live in
//!   the VM's data directory, which a clone never copies, so the clone's first start makes a
//!   new instance-id and cloud-init runs again in it: new SSH host keys, and a new
//!   `/etc/machine-id` (the seed's `bootcmd`, `maqet_seed::cloud_config::machine_id_bootcmd`).
//!   A seed the source attached as a drive (the `cloud-init` plugin's `cidata`) is shared
//!   read-only and carries the source's instance-id: a note says to give the clone its own.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::Path;

use maqet_state::VmRecord;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::VmConfig;
use crate::config::forwards::PortForward;
use crate::{Maqet, MaqetError};

/// Lowest host port a clone's forward is moved to when the ports above the source's run out.
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

/// A host port forward of the source and the one the clone got instead.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClonedPort {
    /// The guest port.
    pub guest: u16,
    /// `tcp` or `udp`.
    pub proto: String,
    /// The source's host port.
    pub source_host: u16,
    /// The clone's host port; `None` when the forward was dropped (no free port).
    pub host: Option<u16>,
}

/// What `clone` changed so the clone is its own machine.
#[derive(Debug, Default)]
pub(crate) struct CloneIdentity {
    pub ports: Vec<ClonedPort>,
    pub notes: Vec<String>,
}

impl Maqet {
    /// Gives the clone's `config` its own host ports and host name (see the module page).
    pub(crate) fn give_clone_its_identity(
        &self,
        config: &mut Value,
        source: &VmRecord,
        clone_name: &str,
        shared_files: &[&Path],
    ) -> Result<CloneIdentity, MaqetError> {
        let mut out = CloneIdentity::default();
        let typed = VmConfig::from_value(config);
        if !typed.ports.is_empty() {
            let forwards = typed.ports;
            let mut declared = self.declared_host_ports()?;
            let mut kept = Vec::new();
            for forward in forwards {
                let host = free_port_above(&forward, &declared);
                if let Some(port) = host {
                    let mut moved = forward.clone();
                    moved.host = port;
                    declared.push(moved.clone());
                    kept.push(moved);
                } else {
                    out.notes.push(format!(
                        "no free host port was left for the source's forward {forward}; the clone does not forward it"
                    ));
                }
                out.ports.push(ClonedPort {
                    guest: forward.guest,
                    proto: forward.proto.clone(),
                    source_host: forward.host,
                    host,
                });
            }
            if let Some(map) = config.as_object_mut() {
                map.insert("ports".into(), ports_value(&kept));
            }
        }
        let hand_written = ["arguments", "args"]
            .iter()
            .filter_map(|key| config.get(*key))
            .any(|v| v.to_string().contains("hostfwd="));
        if hand_written {
            out.notes.push(format!(
                "the source forwards host ports with `hostfwd=` in its QEMU arguments; the clone has the same ones, so the two cannot run together until you change them (`maqet apply {clone_name} ...`) or move them to `ports`"
            ));
        }
        if let Some(previous) = typed.hostname {
            let own = hostname_for(clone_name);
            if let Some(map) = config.as_object_mut() {
                match &own {
                    Some(own) => map.insert("hostname".into(), json!(own)),
                    None => map.remove("hostname"),
                };
            }
            out.notes.push(match own {
                Some(own) => {
                    format!("the source sets `hostname: {previous}`; the clone's is `{own}`")
                }
                None => format!(
                    "the source sets `hostname: {previous}`; the clone has none (`{clone_name}` is no host name): set one with `maqet apply {clone_name} --hostname NAME`"
                ),
            });
        }
        let source_dir = self.dirs().vm_data_dir(&source.id);
        let source_dir = source_dir.canonicalize().unwrap_or(source_dir);
        for file in shared_files {
            if file
                .canonicalize()
                .is_ok_and(|f| f.starts_with(&source_dir))
            {
                out.notes.push(format!(
                    "the clone shares {} with the source, a file maqet made for VM `{}` (a cloud-init seed carries its instance-id and host name); give the clone its own, e.g. `maqet cloud-init {clone_name} --user-data FILE`",
                    file.display(),
                    source.name
                ));
            }
        }
        Ok(out)
    }

    /// Every forward a VM in the registry declares in `ports`.
    fn declared_host_ports(&self) -> Result<Vec<PortForward>, MaqetError> {
        Ok(self
            .db()?
            .list_vms(None)?
            .iter()
            .flat_map(|vm| crate::host_ports::declared(&vm.config))
            .collect())
    }
}

/// The first port above `forward.host` (then from 1024 up to it) that collides with no
/// declared forward and that can be bound now.
fn free_port_above(forward: &PortForward, declared: &[PortForward]) -> Option<u16> {
    let above = forward.host.saturating_add(1)..=u16::MAX;
    let below = FIRST_UNPRIVILEGED_PORT..forward.host;
    above.chain(below).find(|port| {
        let candidate = PortForward {
            host: *port,
            ..forward.clone()
        };
        !declared
            .iter()
            .any(|other| crate::host_ports::collide(&candidate, other))
            && bindable(*port, &forward.proto, forward.host_addr)
    })
}

fn bindable(port: u16, proto: &str, addr: Ipv4Addr) -> bool {
    let addr = SocketAddrV4::new(addr, port);
    match proto {
        "udp" => UdpSocket::bind(addr).is_ok(),
        _ => TcpListener::bind(addr).is_ok(),
    }
}

/// A host name from a VM name: `_` becomes `-`; `None` when the result is still no valid
/// host name (labels of 1-63 letters, digits and `-`, not starting or ending with `-`).
fn hostname_for(vm_name: &str) -> Option<String> {
    let name = vm_name.replace('_', "-");
    let valid = name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    valid.then_some(name)
}

/// `ports` as the config stores it.
fn ports_value(forwards: &[PortForward]) -> Value {
    Value::Array(
        forwards
            .iter()
            .map(|f| {
                let mut entry = json!({"host": f.host, "guest": f.guest});
                if f.proto != "tcp" {
                    entry["proto"] = json!(f.proto);
                }
                if f.host_addr != Ipv4Addr::LOCALHOST {
                    entry["host_addr"] = json!(f.host_addr.to_string());
                }
                entry
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::forwards::parse_forwards;

    #[test]
    fn a_declared_or_busy_port_is_skipped() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let forward = PortForward {
            host: port - 1,
            guest: 22,
            proto: "tcp".into(),
            host_addr: Ipv4Addr::LOCALHOST,
        };
        // Declared on every address: it collides with the source's 127.0.0.1 too.
        let declared = [PortForward {
            host: port + 1,
            host_addr: Ipv4Addr::UNSPECIFIED,
            ..forward.clone()
        }];
        let got = free_port_above(&forward, &declared).unwrap();
        assert!(
            got > port + 1,
            "{got} skips the busy {port} and the declared {}",
            port + 1
        );
    }

    #[test]
    fn a_source_hostname_becomes_the_clone_name_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let maqet = crate::maqet::maqet_in(dir.path());
        maqet.add().name("base").empty(true).send().unwrap();
        let source = maqet.vm_record("base").unwrap();
        let mut config = json!({"hostname": "web", "memory": "1G"});
        let identity = maqet
            .give_clone_its_identity(&mut config, &source, "web-2", &[])
            .unwrap();
        assert_eq!(config["hostname"], "web-2");
        assert!(
            identity.notes[0].contains("hostname: web"),
            "{:?}",
            identity.notes
        );
        // Without `hostname`, nothing is added: the clone's name is the default.
        let mut config = json!({"memory": "1G"});
        let identity = maqet
            .give_clone_its_identity(&mut config, &source, "web-3", &[])
            .unwrap();
        assert_eq!(config, json!({"memory": "1G"}));
        assert!(identity.notes.is_empty() && identity.ports.is_empty());
    }

    #[test]
    fn host_names_come_from_vm_names_when_they_can() {
        assert_eq!(hostname_for("web-2").as_deref(), Some("web-2"));
        assert_eq!(hostname_for("web_2").as_deref(), Some("web-2"));
        assert_eq!(hostname_for("db.prod").as_deref(), Some("db.prod"));
        assert_eq!(hostname_for("web_"), None);
        assert_eq!(hostname_for("a..b"), None);
    }

    #[test]
    fn ports_keep_their_non_default_fields_only() {
        let forwards = parse_forwards(&json!([{"host": 2223, "guest": 22}, {"host": 5353, "guest": 53, "proto": "udp", "host_addr": "0.0.0.0"}])).unwrap();
        assert_eq!(
            ports_value(&forwards),
            json!([{"host": 2223, "guest": 22}, {"host": 5353, "guest": 53, "proto": "udp", "host_addr": "0.0.0.0"}])
        );
    }
}
