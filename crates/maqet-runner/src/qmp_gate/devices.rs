//! `device_add`: which drivers and properties name host resources, from the checked-in
//! `host_properties.txt` (rows kept complete by a walk of QEMU's device types), and the check
//! the gate applies to each.
//!
//! A driver a row marks `host` needs the opt-in; a property marked `read`, `write` or `dir`
//! must be a path the client may use; a property whose name looks like a host resource
//! ([`looks_like_host_resource`]) but that no row covers is refused, so a device of another
//! QEMU version cannot slip a host path past the gate.

use std::sync::LazyLock;

use serde_json::Value;

use super::list::PathUse;
use super::paths::AllowedDirs;

/// The checked-in table, one row a line (see its header).
pub const HOST_PROPERTIES_FILE: &str = include_str!("host_properties.txt");

/// What a property (or a whole driver) does with the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostUse {
    /// Hands a host device, process or address to the guest: needs the opt-in.
    Host,
    /// A host path QEMU reads.
    Read,
    /// A host path QEMU writes.
    Write,
    /// A host directory shown to the guest (checked as written).
    Dir,
    /// Not a host resource.
    None,
}

impl HostUse {
    /// The word used in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Read => "read",
            Self::Write => "write",
            Self::Dir => "dir",
            Self::None => "none",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        [Self::Host, Self::Read, Self::Write, Self::Dir, Self::None]
            .into_iter()
            .find(|u| u.as_str() == word)
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProperty {
    /// Driver name, `prefix*` or `*`.
    pub driver: String,
    /// Property name, `prefix*`, or `*` for the whole driver.
    pub property: String,
    /// What it does with the host.
    pub usage: HostUse,
    /// Why, for docs/qmp-security.md.
    pub why: String,
}

impl HostProperty {
    /// Whether this row is about `driver`'s `property` (`*` rows: the driver as a whole).
    pub fn covers(&self, driver: &str, property: &str) -> bool {
        matches(&self.driver, driver) && matches(&self.property, property)
    }
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Parses the table; `Err` names the bad line.
pub fn parse_host_properties(text: &str) -> Result<Vec<HostProperty>, String> {
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(driver), Some(property), Some(usage)) =
            (words.next(), words.next(), words.next())
        else {
            return Err(format!(
                "line {}: expected DRIVER PROPERTY USE WHY",
                number + 1
            ));
        };
        let usage = HostUse::parse(usage)
            .ok_or_else(|| format!("line {}: unknown use '{usage}'", number + 1))?;
        rows.push(HostProperty {
            driver: driver.into(),
            property: property.into(),
            usage,
            why: words.collect::<Vec<_>>().join(" "),
        });
    }
    Ok(rows)
}

/// The table the gate uses (a unit test proves it parses).
pub fn host_properties() -> &'static [HostProperty] {
    static ROWS: LazyLock<Vec<HostProperty>> =
        LazyLock::new(|| parse_host_properties(HOST_PROPERTIES_FILE).unwrap_or_default());
    &ROWS
}

/// Name parts that suggest a property names a host file, directory, device, descriptor,
/// socket or address.
pub const HOST_NAME_PARTS: &[&str] = &[
    "path", "file", "dir", "root", "hidraw", "db", "host", "sysfs", "dev", "fd", "pcap", "cdat",
    "kernel", "initrd", "sock", "cert", "chardev", "tls", "key", "rom", "image", "log", "dump",
];

/// Whether a property's name suggests a host resource.
pub fn looks_like_host_resource(property: &str) -> bool {
    let lower = property.to_ascii_lowercase();
    HOST_NAME_PARTS.iter().any(|part| lower.contains(part))
}

/// Arguments of `device_add` that are not device properties.
const NOT_PROPERTIES: &[&str] = &["driver", "id", "bus"];

/// Checks `device_add`'s driver and each property against the table.
pub fn check_device_add(args: &Value, dirs: &AllowedDirs) -> Result<(), String> {
    check_with(host_properties(), args, dirs)
}

fn check_with(rows: &[HostProperty], args: &Value, dirs: &AllowedDirs) -> Result<(), String> {
    let driver = args
        .get("driver")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(row) = rows
        .iter()
        .find(|row| row.property == "*" && row.covers(driver, "*"))
        && row.usage == HostUse::Host
    {
        return Err(format!(
            "device driver '{driver}' {} (see the table in docs/qmp-security.md)",
            row.why
        ));
    }
    let Some(properties) = args.as_object() else {
        return Ok(());
    };
    for (name, value) in properties {
        if NOT_PROPERTIES.contains(&name.as_str()) {
            continue;
        }
        let row = rows
            .iter()
            .find(|row| row.property != "*" && row.covers(driver, name));
        let usage = match row {
            Some(row) => row.usage,
            None if looks_like_host_resource(name) => {
                return Err(format!(
                    "property '{name}' of device driver '{driver}' may name a host file or device, and maqet does not know which"
                ));
            }
            None => continue,
        };
        let path_use = match usage {
            HostUse::None => continue,
            HostUse::Host => {
                return Err(format!(
                    "property '{name}' of device driver '{driver}' names a host device, process or address"
                ));
            }
            HostUse::Read => PathUse::Read,
            HostUse::Write | HostUse::Dir => PathUse::Write,
        };
        // A non-text value is QEMU's to reject (its properties here are all strings).
        if let Some(path) = value.as_str() {
            dirs.check(path, path_use)
                .map_err(|why| format!("argument '{name}' is not a path it may use: {why}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn verdict(args: Value) -> Result<(), String> {
        check_device_add(&args, &AllowedDirs::new(["/tmp".into()]))
    }

    #[test]
    fn the_checked_in_table_parses_and_covers_the_known_host_devices() {
        let rows = parse_host_properties(HOST_PROPERTIES_FILE).unwrap();
        assert_eq!(rows.len(), host_properties().len());
        let drivers = [
            "vfio-pci",
            "usb-host",
            "vhost-user-fs-pci",
            "u2f-passthru",
            "virtio-input-host",
        ];
        for driver in drivers {
            let err = verdict(json!({"driver": driver})).unwrap_err();
            assert!(err.contains(driver), "{err}");
        }
        assert!(parse_host_properties("a b maybe why").is_err());
    }

    #[test]
    fn path_properties_are_checked_and_references_pass() {
        let err = verdict(json!({"driver": "usb-mtp", "rootdir": "/etc"})).unwrap_err();
        assert!(err.contains("'rootdir'") && err.contains("/etc"), "{err}");
        assert!(verdict(json!({"driver": "usb-mtp", "rootdir": "/tmp/share"})).is_ok());
        let err = verdict(json!({"driver": "usb-kbd", "pcap": "/var/log/x"})).unwrap_err();
        assert!(err.contains("'pcap'"), "{err}");
        let err = verdict(json!({"driver": "e1000", "romfile": "/etc/shadow"})).unwrap_err();
        assert!(err.contains("system directory /etc"), "{err}");
        let nic = json!({"driver": "virtio-net-pci", "netdev": "n0", "id": "nic"});
        assert!(verdict(nic).is_ok());
        assert!(verdict(json!({"driver": "isa-serial", "chardev": "c1"})).is_ok());
    }

    #[test]
    fn an_unknown_host_looking_property_is_refused() {
        let err = verdict(json!({"driver": "new-dev", "socket-path": "/tmp/x"})).unwrap_err();
        assert!(err.contains("does not know"), "{err}");
        assert!(verdict(json!({"driver": "new-dev", "speed": 3})).is_ok());
    }
}
