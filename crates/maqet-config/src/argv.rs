//! The QEMU command line a config produces: a pure function of the config and a few host facts.

use std::path::PathBuf;

use serde_json::Value;

use super::keys::{CONFIG_KEYS, QemuMapping, find_key};
use super::merge::argument_key;
use super::validate::{count_value, parse_memory_bytes, qemu_memory_text};
use super::{ConfigError, Location};

/// What the command line depends on besides the config.
#[derive(Debug, Clone)]
pub struct ArgvContext {
    /// The VM's name (`-name`).
    pub vm_name: String,
    /// Where drives without a `file` live (`<data>/vms/<name>`).
    pub vm_data_dir: PathBuf,
    /// Whether KVM can be used on this host (decides the default accelerator).
    pub kvm_usable: bool,
}

/// Renders `binary` followed by its arguments. Control sockets are added by the runner.
pub fn render_qemu_argv(config: &Value, ctx: &ArgvContext) -> Result<Vec<String>, ConfigError> {
    let empty = serde_json::Map::new();
    let map = config.as_object().unwrap_or(&empty);
    let arguments: &[Value] = map
        .get("arguments")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let set_in_arguments = |options: &[&str]| {
        arguments
            .iter()
            .filter_map(argument_key)
            .any(|k| options.contains(&k.as_str()))
    };

    let binary = map
        .get("binary")
        .and_then(Value::as_str)
        .unwrap_or("qemu-system-x86_64");
    let mut argv = vec![binary.to_string()];
    if !set_in_arguments(&["name"]) {
        argv.extend(["-name".to_string(), ctx.vm_name.clone()]);
    }
    for key in CONFIG_KEYS {
        let QemuMapping::Option(option) = key.qemu else {
            continue;
        };
        let value = match map.get(key.name) {
            Some(v) => Some(option_value(key.name, v)?),
            None if set_in_arguments(key.same_as) => None,
            None => default_value(key.name, ctx),
        };
        if let Some(v) = value {
            argv.push(format!("-{option}"));
            argv.push(v);
        }
    }
    for item in arguments {
        argv.extend(render_argument(item));
    }
    match map.get("pointer").map(|p| (p, p.as_str())) {
        None | Some((_, Some("none"))) => {}
        Some((_, Some("tablet"))) => {
            argv.extend(["-usb", "-device", "usb-tablet"].map(String::from))
        }
        Some((other, _)) => {
            return Err(ConfigError::Invalid {
                location: Location::default(),
                field: "pointer".into(),
                message: format!("is {other}; use `tablet` or `none`"),
            });
        }
    }
    if let Some(Value::Array(raw)) = map.get("args") {
        argv.extend(raw.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if let Some(storage) = map.get("storage") {
        let mut drives =
            maqet_storage::parse_drives(storage).map_err(|source| ConfigError::Storage {
                location: Location::default(),
                source: Box::new(source),
            })?;
        maqet_storage::assign_default_files(&mut drives, &ctx.vm_data_dir);
        let drive_argv =
            maqet_storage::drive_args(&drives).map_err(|source| ConfigError::Storage {
                location: Location::default(),
                source: Box::new(source),
            })?;
        argv.extend(drive_argv);
    }
    if let Some(ports) = map.get("ports") {
        let forwards = super::forwards::parse_forwards(ports).map_err(|(index, message)| {
            ConfigError::Invalid {
                location: Location::default(),
                field: index.map_or_else(|| "ports".into(), |i| format!("ports[{i}]")),
                message,
            }
        })?;
        super::forwards::add_forward_args(&mut argv, &forwards);
    }
    Ok(argv)
}

fn default_value(key: &str, ctx: &ArgvContext) -> Option<String> {
    match key {
        "accel" => Some(if ctx.kvm_usable { "kvm" } else { "tcg" }.to_string()),
        _ => find_key(key).and_then(|k| k.default).map(str::to_string),
    }
}

fn option_value(key: &str, value: &Value) -> Result<String, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        location: Location::default(),
        field: key.to_string(),
        message,
    };
    match key {
        "memory" => {
            let bytes = parse_memory_bytes(&scalar_text(value)).map_err(invalid)?;
            Ok(qemu_memory_text(bytes))
        }
        "cpu" => count_value(value)
            .filter(|n| *n >= 1)
            .map(|n| n.to_string())
            .ok_or_else(|| invalid("must be a whole number of at least 1".into())),
        _ => Ok(scalar_text(value)),
    }
}

/// Text of a scalar as QEMU wants it (booleans become `on`/`off`).
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "on".into(),
        Value::Bool(false) => "off".into(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(","),
        Value::Object(map) => props_text(map, ""),
    }
}

fn props_text(map: &serde_json::Map<String, Value>, prefix: &str) -> String {
    let mut parts = Vec::new();
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Null => parts.push(key),
            Value::Object(inner) => parts.push(props_text(inner, &key)),
            other => parts.push(format!("{key}={}", scalar_text(other))),
        }
    }
    parts.join(",")
}

/// One `arguments` entry as argv words.
fn render_argument(item: &Value) -> Vec<String> {
    match item {
        Value::String(s) => {
            let trimmed = s.trim();
            let (option, rest) = match trimmed.split_once(char::is_whitespace) {
                Some((o, r)) => (o, Some(r.trim())),
                None => (trimmed, None),
            };
            let mut words = vec![format!("-{}", option.trim_start_matches('-'))];
            words.extend(rest.map(str::to_string));
            words
        }
        Value::Object(map) => {
            let mut entries = map.iter();
            let Some((option, first)) = entries.next() else {
                return Vec::new();
            };
            let mut parts = Vec::new();
            match first {
                Value::Null => {}
                Value::Object(props) => parts.push(props_text(props, "")),
                other => parts.push(scalar_text(other)),
            }
            for (k, v) in entries {
                match v {
                    Value::Null => parts.push(k.clone()),
                    Value::Object(inner) => parts.push(props_text(inner, k)),
                    other => parts.push(format!("{k}={}", scalar_text(other))),
                }
            }
            let mut words = vec![format!("-{option}")];
            if !parts.is_empty() {
                words.push(parts.join(","));
            }
            words
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> ArgvContext {
        ArgvContext {
            vm_name: "web".into(),
            vm_data_dir: PathBuf::from("/data/vms/web"),
            kvm_usable: false,
        }
    }

    #[test]
    fn argument_forms() {
        let cases = [
            (json!({"enable-kvm": null}), vec!["-enable-kvm"]),
            (json!({"m": "1G"}), vec!["-m", "1G"]),
            (
                json!({"netdev": ["user", "id=n0"]}),
                vec!["-netdev", "user,id=n0"],
            ),
            (
                json!({"machine": {"type": "q35", "accel": "tcg"}}),
                vec!["-machine", "type=q35,accel=tcg"],
            ),
            (json!({"object": {"a": {"b": 1}}}), vec!["-object", "a.b=1"]),
            (
                json!({"display": "gtk", "zoom-to-fit": true}),
                vec!["-display", "gtk,zoom-to-fit=on"],
            ),
            (
                json!({"device": "virtio-net", "netdev": "n0", "x": null}),
                vec!["-device", "virtio-net,netdev=n0,x"],
            ),
            (json!("-nodefaults"), vec!["-nodefaults"]),
            (json!("no-reboot"), vec!["-no-reboot"]),
            (
                json!("-device virtio-rng-pci"),
                vec!["-device", "virtio-rng-pci"],
            ),
        ];
        for (item, want) in cases {
            assert_eq!(render_argument(&item), want, "{item}");
        }
    }

    #[test]
    fn golden_command_line() {
        let cfg = json!({
            "binary": "/usr/bin/qemu-system-x86_64", "memory": "512m", "cpu": 2,
            "arguments": [{"device": "virtio-rng-pci"}, {"device": "virtio-balloon-pci,id=bal0"}],
            "args": ["-nodefaults"]
        });
        let argv = render_qemu_argv(&cfg, &ctx()).unwrap();
        assert_eq!(
            argv.join(" "),
            "/usr/bin/qemu-system-x86_64 -name web -accel tcg -m 512M -smp 2 -display none \
             -device virtio-rng-pci -device virtio-balloon-pci,id=bal0 -nodefaults"
        );
    }

    #[test]
    fn defaults_only_when_not_set_in_arguments() {
        let cfg = json!({"arguments": [{"display": "vnc=:1"}, {"enable-kvm": null}]});
        let argv = render_qemu_argv(&cfg, &ctx()).unwrap().join(" ");
        assert_eq!(
            argv,
            "qemu-system-x86_64 -name web -display vnc=:1 -enable-kvm"
        );
        let kvm = ArgvContext {
            kvm_usable: true,
            ..ctx()
        };
        let argv = render_qemu_argv(&json!({}), &kvm).unwrap().join(" ");
        assert_eq!(
            argv,
            "qemu-system-x86_64 -name web -accel kvm -display none"
        );
    }
}
