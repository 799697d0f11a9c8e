//! Deep merge of VM configs.
//!
//! - mappings merge recursively; for scalars and other lists the later value wins;
//! - `storage`: drives merge by `name` (same name: fields merged; new name: appended);
//! - `arguments`: single-instance QEMU options are replaced in place, repeatable ones are
//!   appended unless an equal entry is already there.
//!
//! A merge never drops a device, and merging the same config twice changes nothing.

use serde_json::{Map, Value};

/// QEMU options that may appear once; a later config replaces them by key.
pub const SINGLE_INSTANCE_OPTIONS: &[&str] = &[
    "m",
    "smp",
    "cpu",
    "machine",
    "M",
    "accel",
    "display",
    "vga",
    "kernel",
    "initrd",
    "append",
    "bios",
    "boot",
    "name",
    "uuid",
    "rtc",
    "k",
    "L",
    "dtb",
    "pidfile",
    "nographic",
    "vnc",
    "icount",
    "overcommit",
    "sandbox",
    "msg",
    "nodefaults",
    "no-reboot",
    "no-shutdown",
    "enable-kvm",
    "S",
    "snapshot",
    "daemonize",
    "mem-path",
    "mem-prealloc",
];

/// Merges `over` into `base` following the rules above.
pub fn merge_config(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base_map), Value::Object(over_map)) => {
            for (key, value) in over_map {
                match (key.as_str(), base_map.get_mut(key)) {
                    ("storage", Some(Value::Array(existing))) if value.is_array() => {
                        merge_storage(existing, value);
                    }
                    ("arguments", Some(Value::Array(existing))) if value.is_array() => {
                        merge_arguments(existing, value);
                    }
                    (_, Some(existing)) => merge_value(existing, value),
                    (_, None) => {
                        base_map.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

fn merge_value(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => merge_maps(b, o),
        (base, over) => *base = over.clone(),
    }
}

fn merge_maps(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (key, value) in over {
        match base.get_mut(key) {
            Some(existing) => merge_value(existing, value),
            None => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

fn merge_storage(base: &mut Vec<Value>, over: &Value) {
    let Some(items) = over.as_array() else { return };
    for item in items {
        let name = item.get("name").and_then(Value::as_str);
        let existing = name.and_then(|n| {
            base.iter_mut()
                .find(|b| b.get("name").and_then(Value::as_str) == Some(n))
        });
        match existing {
            Some(target) => merge_value(target, item),
            None => base.push(item.clone()),
        }
    }
}

/// The QEMU option an `arguments` entry sets (`{device: ..}` → `device`, `"-enable-kvm"` →
/// `enable-kvm`).
pub fn argument_key(item: &Value) -> Option<String> {
    match item {
        Value::Object(map) => map.keys().next().cloned(),
        Value::String(s) => {
            let word = s.split_whitespace().next()?;
            Some(word.trim_start_matches('-').to_string())
        }
        _ => None,
    }
}

/// Whether an option may appear only once.
pub fn is_single_instance(option: &str) -> bool {
    SINGLE_INSTANCE_OPTIONS.contains(&option)
}

fn merge_arguments(base: &mut Vec<Value>, over: &Value) {
    let Some(items) = over.as_array() else { return };
    for item in items {
        if base.contains(item) {
            continue;
        }
        let key = argument_key(item);
        let slot = key
            .as_deref()
            .filter(|k| is_single_instance(k))
            .and_then(|k| {
                base.iter()
                    .position(|b| argument_key(b).as_deref() == Some(k))
            });
        match slot {
            Some(index) => base[index] = item.clone(),
            None => base.push(item.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_devices_survive_a_merge() {
        let mut base = json!({"arguments": [{"enable-kvm": null}, {"device": "virtio-rng-pci"},
                                              {"device": "virtio-balloon-pci,id=bal0"}]});
        let over = json!({"arguments": [{"device": "e1000,netdev=n0"}, {"netdev": "user,id=n0"}]});
        merge_config(&mut base, &over);
        assert_eq!(
            base["arguments"],
            json!([{"enable-kvm": null}, {"device": "virtio-rng-pci"},
                   {"device": "virtio-balloon-pci,id=bal0"}, {"device": "e1000,netdev=n0"},
                   {"netdev": "user,id=n0"}])
        );
    }

    #[test]
    fn single_instance_options_are_replaced_in_place() {
        let mut base = json!({"arguments": [{"m": "1G"}, {"device": "a"}, {"smp": 1}]});
        merge_config(&mut base, &json!({"arguments": [{"smp": 4}, {"m": "2G"}]}));
        assert_eq!(
            base["arguments"],
            json!([{"m": "2G"}, {"device": "a"}, {"smp": 4}])
        );
    }

    #[test]
    fn storage_merges_by_name() {
        let mut base = json!({"storage": [{"name": "hdd", "size": "10G", "type": "qcow2"}]});
        let over =
            json!({"storage": [{"name": "hdd", "size": "20G"}, {"name": "iso", "type": "raw"}]});
        merge_config(&mut base, &over);
        assert_eq!(
            base["storage"],
            json!([{"name": "hdd", "size": "20G", "type": "qcow2"}, {"name": "iso", "type": "raw"}])
        );
    }

    #[test]
    fn merging_the_same_config_twice_changes_nothing() {
        let cfg = json!({"memory": "1G", "storage": [{"name": "hdd", "size": "1G"}],
                         "arguments": [{"device": "x"}, {"device": "y"}, "-no-reboot"],
                         "args": ["-nodefaults"]});
        let mut merged = cfg.clone();
        merge_config(&mut merged, &cfg);
        assert_eq!(merged, cfg);
    }

    #[test]
    fn scalars_later_wins_and_maps_merge() {
        let mut base = json!({"memory": "1G", "x": {"a": 1, "b": 2}});
        merge_config(&mut base, &json!({"memory": "2G", "x": {"b": 3}}));
        assert_eq!(base, json!({"memory": "2G", "x": {"a": 1, "b": 3}}));
    }
}
