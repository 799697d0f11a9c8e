//! The JSON Schema of a VM config file, generated from the declared keys.

use serde_json::{Value, json};

use super::keys::{CONFIG_KEYS, KeyType};

/// The schema of one drive in `storage`.
fn drive_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name"],
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$", "description": "Drive name, unique in the VM; QEMU id and node name."},
            "type": {"enum": ["qcow2", "raw", "virtfs"], "default": "qcow2"},
            "file": {"type": "string", "description": "Image path; default <data>/vms/<vm>/<name>.<type>."},
            "size": {"type": ["string", "integer"], "description": "Virtual size for a new image, like 20G."},
            "interface": {"enum": ["virtio", "sata", "ide", "scsi", "none"], "default": "virtio"},
            "media": {"enum": ["disk", "cdrom"], "default": "disk"},
            "readonly": {"type": "boolean", "default": false},
            "backing_file": {"type": "string"},
            "backing_format": {"enum": ["qcow2", "raw"]},
            "cache": {"type": "string"},
            "from": {"type": "string", "description": "Image (http/https URL or path) the disk is made from: cached, checked, then used as the backing file of a qcow2 overlay."},
            "sha256": {"type": "string", "pattern": "^(sha256:)?[0-9A-Fa-f]{64}$", "description": "Expected SHA-256 of the `from` image."},
            "checksums": {"type": "string", "description": "SHA256SUMS file (URL or path) listing the `from` image's digest."},
            "path": {"type": "string", "description": "virtfs: host directory to share."},
            "mount_tag": {"type": "string", "description": "virtfs: tag the guest mounts; default the name."},
            "security_model": {"enum": ["passthrough", "mapped-xattr", "mapped-file", "none"], "default": "passthrough"}
        }
    })
}

fn key_schema(kind: KeyType) -> Value {
    match kind {
        KeyType::String | KeyType::Program => json!({"type": "string", "minLength": 1}),
        KeyType::Name => json!({"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}),
        KeyType::Memory => {
            json!({"type": ["string", "integer"], "pattern": "^[0-9]+([KkMmGgTt]([iI]?[bB])?)?$"})
        }
        KeyType::Count => json!({"type": "integer", "minimum": 1}),
        KeyType::Arguments => json!({
            "type": "array",
            "items": {"anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "object", "minProperties": 1}
            ]}
        }),
        KeyType::RawArgs => json!({"type": "array", "items": {"type": "string"}}),
        KeyType::Storage => json!({"type": "array", "items": drive_schema()}),
        KeyType::Bool => json!({"type": "boolean"}),
        KeyType::ShutdownMethod => json!({"enum": ["acpi", "agent"]}),
        KeyType::Firmware => json!({"enum": crate::Firmware::CHOICES}),
        KeyType::UserName => json!({"type": "string", "pattern": "^[a-z_][a-z0-9_-]{0,31}$"}),
        KeyType::Hostname => json!({"type": "string", "minLength": 1, "maxLength": 253}),
        KeyType::SshKeys => json!({"type": "array", "items": {"type": "string"}}),
        KeyType::CloudData => json!({"type": ["object", "string"]}),
        KeyType::Ports => json!({
            "type": "array",
            "items": {
                "type": "object",
                "required": ["host", "guest"],
                "additionalProperties": false,
                "properties": {
                    "host": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "guest": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "proto": {"enum": ["tcp", "udp"], "default": "tcp"},
                    "host_addr": {"type": "string", "default": "127.0.0.1"}
                }
            }
        }),
    }
}

/// The JSON Schema (draft 2020-12) of a VM config file.
pub fn config_schema() -> Value {
    let mut properties = serde_json::Map::new();
    for key in CONFIG_KEYS {
        let mut schema = key_schema(key.kind);
        if let Some(obj) = schema.as_object_mut() {
            obj.insert("description".into(), Value::String(key.doc.to_string()));
            if let Some(default) = key.default.filter(|_| key.name != "accel") {
                obj.insert("default".into(), Value::String(default.to_string()));
            }
        }
        properties.insert(key.name.to_string(), schema);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "maqet VM config",
        "type": "object",
        "additionalProperties": false,
        "properties": properties
    })
}
