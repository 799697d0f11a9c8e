//! The typed view of a VM config: one field per key, each with its own type.
//!
//! [`VmConfig::from_value`] reads a config document (as merged and validated, or as a VM
//! record stored it). It never fails: a key it does not know is ignored, and a value of the
//! wrong type reads as if the key were absent, so an old record still loads. Validation
//! ([`crate::validate_config`]) is where a bad value is refused, with its place.
//!
//! Adding a key: a field here and a row in [`crate::keys::CONFIG_KEYS`], in the same order
//! (a test compares the two lists and reads each row's example through its field).

use std::fmt;

use maqet_storage::DriveSpec;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::forwards::{PortForward, parse_forwards};
use crate::validate::{count_value, parse_memory_bytes, qemu_memory_text};

/// A VM config, typed. The field names are the YAML keys.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct VmConfig {
    /// `name`: the VM name the config asks for.
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    /// `binary`: the QEMU program (default `qemu-system-x86_64`).
    #[serde(deserialize_with = "lenient")]
    pub binary: Option<String>,
    /// `machine`: the machine type and its properties.
    #[serde(deserialize_with = "lenient")]
    pub machine: Option<String>,
    /// `accel`: the accelerator (default: kvm when usable, else tcg).
    #[serde(deserialize_with = "lenient")]
    pub accel: Option<String>,
    /// `memory`: guest RAM.
    #[serde(deserialize_with = "lenient")]
    pub memory: Option<MemorySize>,
    /// `cpu`: the number of virtual CPUs.
    #[serde(deserialize_with = "cpu_count")]
    pub cpu: Option<u32>,
    /// `display`: the display backend (default `none`).
    #[serde(deserialize_with = "lenient")]
    pub display: Option<String>,
    /// `vga`: the video card.
    #[serde(deserialize_with = "lenient")]
    pub vga: Option<String>,
    /// `firmware`: BIOS (QEMU's built-in) or UEFI from QEMU's firmware descriptors.
    #[serde(deserialize_with = "lenient")]
    pub firmware: Firmware,
    /// `secure_boot`: with UEFI, firmware that enforces Secure Boot.
    #[serde(deserialize_with = "lenient")]
    pub secure_boot: bool,
    /// `tpm`: an emulated TPM 2.0 (swtpm, supervised by the runner).
    #[serde(deserialize_with = "lenient")]
    pub tpm: bool,
    /// `pointer`: `tablet` adds a USB tablet (absolute pointer positions).
    #[serde(deserialize_with = "lenient")]
    pub pointer: Option<String>,
    /// `arguments`: QEMU options as structured entries, the escape hatch for what no key sets.
    #[serde(deserialize_with = "lenient")]
    pub arguments: Vec<Value>,
    /// `args`: raw QEMU argv words.
    #[serde(deserialize_with = "lenient")]
    pub args: Vec<String>,
    /// `storage`: the drives.
    #[serde(deserialize_with = "drives")]
    pub storage: Vec<DriveSpec>,
    /// `guest_agent`: whether the VM has a guest agent channel.
    #[serde(deserialize_with = "lenient")]
    pub guest_agent: bool,
    /// `copy_channel`: the `cp` data port next to the agent's; absent means on (see
    /// [`VmConfig::has_copy_channel`]).
    #[serde(deserialize_with = "lenient")]
    pub copy_channel: Option<bool>,
    /// `ports`: host ports forwarded to the guest.
    #[serde(deserialize_with = "forwards")]
    pub ports: Vec<PortForward>,
    /// `shutdown_via`: how `stop` asks the guest to power off.
    #[serde(deserialize_with = "lenient")]
    pub shutdown_via: ShutdownVia,
    /// `cloud_init`: first-boot identity on or off; absent means "on when an identity key is
    /// set" (see [`VmConfig::first_boot_identity`]).
    #[serde(deserialize_with = "lenient")]
    pub cloud_init: Option<bool>,
    /// `user`: the guest account cloud-init creates.
    #[serde(deserialize_with = "lenient")]
    pub user: Option<String>,
    /// `ssh_authorized_keys`: public key lines for that account.
    #[serde(deserialize_with = "lenient")]
    pub ssh_authorized_keys: Option<Vec<String>>,
    /// `hostname`: the guest's host name.
    #[serde(deserialize_with = "lenient")]
    pub hostname: Option<String>,
    /// `user_data`: more cloud-config, or the whole user-data.
    #[serde(deserialize_with = "lenient")]
    pub user_data: Option<CloudData>,
    /// `network_config`: the seed's network-config.
    #[serde(deserialize_with = "lenient")]
    pub network_config: Option<CloudData>,
}

impl VmConfig {
    /// The typed view of a config document; see the module page for what it forgives.
    pub fn from_value(document: &Value) -> VmConfig {
        match document {
            Value::Object(_) => VmConfig::deserialize(document).unwrap_or_default(),
            _ => VmConfig::default(),
        }
    }

    /// The typed view of a document whose known keys must all be valid: what
    /// [`validate_config`](crate::validate_config) refuses in them is an error (without a
    /// file position). Keys this version does not know are left out, as
    /// [`VmConfig::from_value`] does.
    pub fn from_value_checked(document: &Value) -> Result<VmConfig, crate::ConfigError> {
        let known = match document {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(key, _)| crate::keys::find_key(key).is_some())
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
            ),
            other => other.clone(),
        };
        crate::validate_config(&known, None)?;
        Ok(VmConfig::from_value(&known))
    }

    /// Whether the VM gets the `cp` data port: with the guest agent, unless `copy_channel` is
    /// `false`.
    pub fn has_copy_channel(&self) -> bool {
        self.guest_agent && self.copy_channel.unwrap_or(true)
    }

    /// Whether first-boot identity (the cloud-init seed) is on: `cloud_init` when set, else
    /// whether any of `user`, `ssh_authorized_keys`, `hostname`, `user_data`,
    /// `network_config` is set.
    pub fn first_boot_identity(&self) -> bool {
        self.cloud_init.unwrap_or(
            self.user.is_some()
                || self.ssh_authorized_keys.is_some()
                || self.hostname.is_some()
                || self.user_data.is_some()
                || self.network_config.is_some(),
        )
    }

    /// The key names, in declaration order, as serde sees the fields.
    pub fn key_names() -> &'static [&'static str] {
        field_names::<VmConfig>()
    }
}

/// How `stop` asks the guest to power off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShutdownVia {
    /// The ACPI power button.
    #[default]
    Acpi,
    /// The guest agent's `guest-shutdown`.
    Agent,
}

/// The firmware a VM boots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// QEMU's built-in BIOS (SeaBIOS).
    #[default]
    Bios,
    /// UEFI (OVMF), chosen from QEMU's firmware descriptors.
    Uefi,
}

impl Firmware {
    /// The accepted spellings, for messages and the schema.
    pub const CHOICES: &'static [&'static str] = &["bios", "uefi"];

    /// Reads the `firmware` key's value.
    pub fn parse(text: &str) -> Option<Firmware> {
        match text {
            "bios" => Some(Firmware::Bios),
            "uefi" => Some(Firmware::Uefi),
            _ => None,
        }
    }
}

/// Guest RAM: whole bytes, a multiple of 8 KiB, read from `512M`, `4G` or a bare number of
/// MiB as QEMU's `-m` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemorySize(u64);

impl MemorySize {
    /// Parses a size as the `memory` key takes it.
    pub fn parse(text: &str) -> Result<MemorySize, String> {
        parse_memory_bytes(text).map(MemorySize)
    }

    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// The size in whole MiB, rounded down.
    pub fn mib(self) -> u64 {
        self.0 >> 20
    }
}

impl fmt::Display for MemorySize {
    /// The exact text for QEMU's `-m`, in the largest unit that divides it (`4G`, `1536K`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&qemu_memory_text(self.0))
    }
}

impl Serialize for MemorySize {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MemorySize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = match Value::deserialize(deserializer)? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "a memory size is text or a number, not {other}"
                )));
            }
        };
        MemorySize::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// cloud-init data: a mapping (cloud-config) or text used as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CloudData {
    /// A cloud-config mapping.
    Mapping(Map<String, Value>),
    /// Text, used as it is.
    Text(String),
}

impl CloudData {
    /// The data as a JSON value, as the seed builder takes it.
    pub fn to_value(&self) -> Value {
        match self {
            CloudData::Mapping(map) => Value::Object(map.clone()),
            CloudData::Text(text) => Value::String(text.clone()),
        }
    }
}

/// A field's value, or its default when the document's value has another type.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// `cpu`: a whole number of at least 1, given as a number or as numeric text.
fn cpu_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(count_value(&value)
        .filter(|n| *n >= 1)
        .and_then(|n| u32::try_from(n).ok()))
}

/// `storage`: the drives as the storage layer reads them (none when the list is invalid).
fn drives<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<DriveSpec>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(maqet_storage::parse_drives(&value).unwrap_or_default())
}

/// `ports`: the forwards (none when the list is invalid).
fn forwards<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<PortForward>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(parse_forwards(&value).unwrap_or_default())
}

/// The field names serde's derive gives a struct, read by asking it to deserialize from a
/// deserializer that only records them.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::value::Error;
    use serde::de::{Error as _, Visitor};

    struct Recorder<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Recorder<'_> {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
            Err(Error::custom("only structs have field names"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Error> {
            *self.0 = fields;
            Err(Error::custom("recorded"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Recorder(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_key_with_its_type() {
        let config = VmConfig::from_value(&json!({
            "name": "web", "memory": "1536K", "cpu": "2", "shutdown_via": "agent",
            "guest_agent": true, "ports": [{"host": 2222, "guest": 22}],
            "storage": [{"name": "hdd", "size": "1G"}], "user_data": {"packages": ["htop"]},
            "network_config": "version: 2\n", "unknown_key": 1
        }));
        assert_eq!(config.name.as_deref(), Some("web"));
        assert_eq!(config.memory.map(MemorySize::bytes), Some(1536 * 1024));
        assert_eq!(
            config.memory.map(|m| m.to_string()).as_deref(),
            Some("1536K")
        );
        assert_eq!(config.cpu, Some(2));
        assert_eq!(config.shutdown_via, ShutdownVia::Agent);
        assert!(config.guest_agent);
        assert!(config.has_copy_channel(), "on by default with the agent");
        assert_eq!(config.ports[0].hostfwd(), "tcp:127.0.0.1:2222-:22");
        assert_eq!(config.storage[0].name, "hdd");
        assert_eq!(
            config.user_data.as_ref().map(CloudData::to_value),
            Some(json!({"packages": ["htop"]}))
        );
        assert_eq!(
            config.network_config,
            Some(CloudData::Text("version: 2\n".into()))
        );
        assert!(config.first_boot_identity());
    }

    #[test]
    fn a_value_of_the_wrong_type_reads_as_absent() {
        let config = VmConfig::from_value(&json!({
            "memory": "banana", "cpu": 0, "guest_agent": "yes", "shutdown_via": "power",
            "name": "kept"
        }));
        assert_eq!(config.memory, None);
        assert_eq!(config.cpu, None);
        assert!(!config.guest_agent);
        assert_eq!(config.shutdown_via, ShutdownVia::Acpi);
        assert_eq!(config.name.as_deref(), Some("kept"));
        assert_eq!(VmConfig::from_value(&Value::Null), VmConfig::default());
    }

    #[test]
    fn the_checked_view_refuses_a_bad_known_key_and_ignores_unknown_ones() {
        let err = VmConfig::from_value_checked(&json!({"memory": "much"})).unwrap_err();
        assert!(err.to_string().contains("much"), "{err}");
        let config = VmConfig::from_value_checked(&json!({"cpu": 2, "from_the_future": 1}));
        assert_eq!(config.map(|c| c.cpu).ok(), Some(Some(2)));
    }

    #[test]
    fn identity_is_on_when_a_key_is_set_unless_turned_off() {
        assert!(!VmConfig::from_value(&json!({})).first_boot_identity());
        assert!(VmConfig::from_value(&json!({"hostname": "h"})).first_boot_identity());
        assert!(
            !VmConfig::from_value(&json!({"hostname": "h", "cloud_init": false}))
                .first_boot_identity()
        );
        assert!(VmConfig::from_value(&json!({"cloud_init": true})).first_boot_identity());
        let channel = |v: Value| VmConfig::from_value(&v).has_copy_channel();
        assert!(!channel(json!({"copy_channel": true})), "needs the agent");
        assert!(!channel(
            json!({"guest_agent": true, "copy_channel": false})
        ));
    }
}
