//! The `ports` key: host ports forwarded to the guest through QEMU's user-mode network.
//!
//! Each entry becomes a `hostfwd` rule. The rules join the first user-mode network the config
//! already has (`-netdev user,...` or `-nic user,...`, from `arguments` or `args`); without one,
//! maqet adds `-netdev user,id=maqet-net` and a `virtio-net-pci` NIC on it.

use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::Value;

/// Id of the user-mode netdev maqet adds when the config has none.
pub const MAQET_NETDEV_ID: &str = "maqet-net";

/// One forwarded port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortForward {
    /// The host port.
    pub host: u16,
    /// The guest port.
    pub guest: u16,
    /// `tcp` or `udp`.
    pub proto: String,
    /// The host address the port is opened on.
    pub host_addr: Ipv4Addr,
}

impl PortForward {
    /// The QEMU `hostfwd` rule (`tcp:127.0.0.1:2222-:22`).
    pub fn hostfwd(&self) -> String {
        format!(
            "{}:{}:{}-:{}",
            self.proto, self.host_addr, self.host, self.guest
        )
    }
}

impl std::fmt::Display for PortForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} -> guest {}/{}",
            self.host_addr, self.host, self.guest, self.proto
        )
    }
}

/// Reads the `ports` list; an error names the entry index (when it is one entry's fault).
pub fn parse_forwards(value: &Value) -> Result<Vec<PortForward>, (Option<usize>, String)> {
    let Value::Array(items) = value else {
        return Err((
            None,
            "must be a list of `{host: N, guest: N}` entries".into(),
        ));
    };
    let mut forwards: Vec<PortForward> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let forward = parse_one(item).map_err(|m| (Some(i), m))?;
        if let Some(first) = forwards.iter().position(|f| {
            f.host == forward.host && f.proto == forward.proto && f.host_addr == forward.host_addr
        }) {
            return Err((
                Some(i),
                format!(
                    "host port {}/{} is forwarded twice (entries {first} and {i}); each host port can go to one guest port",
                    forward.host, forward.proto
                ),
            ));
        }
        forwards.push(forward);
    }
    Ok(forwards)
}

fn parse_one(item: &Value) -> Result<PortForward, String> {
    let Value::Object(map) = item else {
        return Err("must be a mapping like `{host: 2222, guest: 22}`".into());
    };
    if let Some(unknown) = map
        .keys()
        .find(|k| !["host", "guest", "proto", "host_addr"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown field `{unknown}`; use host, guest, proto and host_addr"
        ));
    }
    let port = |field: &str| -> Result<u16, String> {
        let number = match map.get(field) {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            None => return Err(format!("`{field}` is missing (a port number, 1-65535)")),
            _ => None,
        };
        number
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("`{field}` must be a port number from 1 to 65535"))
    };
    let proto = match map.get("proto") {
        None => "tcp".to_owned(),
        Some(Value::String(p)) if p == "tcp" || p == "udp" => p.clone(),
        Some(_) => return Err("`proto` must be `tcp` or `udp`".into()),
    };
    let host_addr = match map.get("host_addr") {
        None => Ipv4Addr::LOCALHOST,
        Some(Value::String(a)) => a
            .parse()
            .map_err(|_| format!("`host_addr` `{a}` is not an IPv4 address"))?,
        Some(_) => return Err("`host_addr` must be an IPv4 address as text".into()),
    };
    Ok(PortForward {
        host: port("host")?,
        guest: port("guest")?,
        proto,
        host_addr,
    })
}

/// Adds the `hostfwd` rules to the rendered command line: into its first user-mode network,
/// or on a new `-netdev user` + `virtio-net-pci`.
pub fn add_forward_args(argv: &mut Vec<String>, forwards: &[PortForward]) {
    if forwards.is_empty() {
        return;
    }
    let rules: Vec<String> = forwards
        .iter()
        .map(|f| format!("hostfwd={}", f.hostfwd()))
        .collect();
    let rules = rules.join(",");
    let existing = argv.windows(2).position(|pair| {
        matches!(pair[0].as_str(), "-netdev" | "--netdev" | "-nic" | "--nic")
            && (pair[1] == "user" || pair[1].starts_with("user,"))
    });
    match existing {
        Some(at) => {
            let value = &mut argv[at + 1];
            value.push(',');
            value.push_str(&rules);
        }
        None => argv.extend([
            "-netdev".into(),
            format!("user,id={MAQET_NETDEV_ID},{rules}"),
            "-device".into(),
            format!("virtio-net-pci,netdev={MAQET_NETDEV_ID}"),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_default_to_tcp_on_localhost() {
        let got = parse_forwards(&json!([{"host": 2222, "guest": 22}, {"host": "53", "guest": 53, "proto": "udp", "host_addr": "0.0.0.0"}])).unwrap();
        assert_eq!(got[0].hostfwd(), "tcp:127.0.0.1:2222-:22");
        assert_eq!(got[1].hostfwd(), "udp:0.0.0.0:53-:53");
    }

    #[test]
    fn bad_and_duplicate_entries_are_refused_with_their_index() {
        let cases = [
            (json!([{"host": 0, "guest": 22}]), "from 1 to 65535"),
            (json!([{"host": 70000, "guest": 22}]), "from 1 to 65535"),
            (json!([{"guest": 22}]), "`host` is missing"),
            (
                json!([{"host": 1, "guest": 2, "proto": "sctp"}]),
                "`tcp` or `udp`",
            ),
            (
                json!([{"host": 1, "guest": 2, "hots": 3}]),
                "unknown field `hots`",
            ),
            (
                json!([{"host": 8080, "guest": 80}, {"host": 8080, "guest": 81}]),
                "forwarded twice",
            ),
        ];
        for (value, want) in cases {
            let (_, message) = parse_forwards(&value).unwrap_err();
            assert!(message.contains(want), "{value}: {message}");
        }
        // The same number over tcp and udp is two different host ports.
        assert!(
            parse_forwards(
                &json!([{"host": 53, "guest": 53}, {"host": 53, "guest": 53, "proto": "udp"}])
            )
            .is_ok()
        );
    }

    #[test]
    fn rules_join_an_existing_user_netdev_or_get_their_own() {
        let forwards = parse_forwards(&json!([{"host": 2222, "guest": 22}])).unwrap();
        let mut own = vec!["qemu".to_owned()];
        add_forward_args(&mut own, &forwards);
        assert_eq!(
            own.join(" "),
            "qemu -netdev user,id=maqet-net,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=maqet-net"
        );
        let mut joined: Vec<String> = [
            "qemu",
            "-netdev",
            "user,id=n0",
            "-device",
            "e1000,netdev=n0",
        ]
        .map(String::from)
        .to_vec();
        add_forward_args(&mut joined, &forwards);
        assert_eq!(
            joined.join(" "),
            "qemu -netdev user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22 -device e1000,netdev=n0"
        );
    }
}
