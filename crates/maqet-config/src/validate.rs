//! Validation of a VM config against the declared keys.

use serde_json::Value;

use super::keys::{CONFIG_KEYS, KeyType, find_key, suggest_key};
use super::merge::{argument_key, is_single_instance};
use super::yaml::{SourceDoc, escape_pointer};
use super::{ConfigError, Location};

/// Longest VM name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a VM name: `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 64 characters.
pub fn check_vm_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a VM name cannot be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "VM name is {} characters long; the limit is {MAX_NAME_LEN}",
            name.len()
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !first_ok || !rest_ok {
        return Err(format!(
            "VM name `{name}` is not allowed: use letters, digits, `.`, `_` and `-`, starting with a letter or digit"
        ));
    }
    Ok(())
}

/// QEMU allocates guest RAM in 8 KiB steps and rounds any other size up; so this is both its
/// smallest size and the step an exact size must be a multiple of.
pub const QEMU_RAM_STEP: u64 = 8 * 1024;

/// Parses a memory size as QEMU's `-m` takes it; returns bytes. A bare number means MiB (as
/// in QEMU); `B` means bytes, `K`/`M`/`G`/`T` (optionally `KiB`, `KB`...) powers of 1024.
/// Sizes below [`QEMU_RAM_STEP`], or not a multiple of it, are refused: QEMU would run a
/// guest with a different amount of memory than written.
pub fn parse_memory_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let bad = || format!("`{text}` is not a memory size; write it like `512M` or `4G`");
    let (digits, shift) = match upper.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (upper.as_str(), 20),
        Some((i, _)) => {
            let (digits, unit) = upper.split_at(i);
            let shift = match unit {
                "B" => 0,
                "K" | "KB" | "KIB" => 10,
                "M" | "MB" | "MIB" => 20,
                "G" | "GB" | "GIB" => 30,
                "T" | "TB" | "TIB" => 40,
                _ => return Err(bad()),
            };
            (digits, shift)
        }
    };
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let bytes = number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("memory `{text}` is too large"))?;
    if bytes < QEMU_RAM_STEP {
        return Err(format!(
            "memory `{text}` is below QEMU's minimum of 8K (8192 bytes)"
        ));
    }
    if !bytes.is_multiple_of(QEMU_RAM_STEP) {
        return Err(format!(
            "memory `{text}` is not a multiple of 8K, and QEMU would round it up; give a multiple of 8K (8192 bytes)"
        ));
    }
    Ok(bytes)
}

/// The exact text for QEMU's `-m`, in the largest unit that divides it (`4G`, `1536K`,
/// `12288B`).
pub fn qemu_memory_text(bytes: u64) -> String {
    for (unit, shift) in [('T', 40), ('G', 30), ('M', 20), ('K', 10)] {
        if bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// Validates a config value. `source` gives positions for errors when the value came from a
/// file.
pub fn validate_config(value: &Value, source: Option<&SourceDoc>) -> Result<(), ConfigError> {
    let fail = |pointer: &str, key: bool, field: &str, message: String| ConfigError::Invalid {
        location: locate(source, pointer, key),
        field: field.to_string(),
        message,
    };
    let Some(map) = value.as_object() else {
        return Err(fail(
            "",
            false,
            "(document)",
            "a VM config must be a mapping of keys such as `memory:` and `storage:`".into(),
        ));
    };
    for (key, item) in map {
        let pointer = format!("/{}", escape_pointer(key));
        let Some(decl) = find_key(key) else {
            let hint = suggest_key(key)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    let names: Vec<&str> = CONFIG_KEYS.iter().map(|k| k.name).collect();
                    format!("; known keys: {}", names.join(", "))
                });
            return Err(fail(&pointer, true, key, format!("unknown key{hint}")));
        };
        check_type(decl.kind, item).map_err(|(sub, msg)| {
            let p = format!("{pointer}{sub}");
            fail(&p, false, &field_name(key, &sub), msg)
        })?;
    }
    check_conflicts(map).map_err(|(pointer, field, msg)| fail(&pointer, false, &field, msg))?;
    if let Some(storage) = map.get("storage") {
        maqet_storage::parse_drives(storage).map_err(|err| {
            let pointer = storage_pointer(err.config_path().unwrap_or("storage"));
            ConfigError::Storage {
                location: locate(source, &pointer, false),
                source: Box::new(err),
            }
        })?;
    }
    Ok(())
}

/// `storage[1].size` → `/storage/1/size`.
fn storage_pointer(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            let (name, idx) = rest.split_at(open);
            if !name.is_empty() {
                out.push('/');
                out.push_str(name);
            }
            rest = idx;
            for index in rest.split('[').filter(|s| !s.is_empty()) {
                out.push('/');
                out.push_str(index.trim_end_matches(']'));
            }
        } else if !rest.is_empty() {
            out.push('/');
            out.push_str(rest);
        }
    }
    if out.starts_with("/storage") {
        out
    } else {
        format!("/storage{out}")
    }
}

fn field_name(key: &str, sub: &str) -> String {
    if sub.is_empty() {
        return key.to_string();
    }
    let mut out = key.to_string();
    for seg in sub.trim_start_matches('/').split('/') {
        if seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            out.push('.');
            out.push_str(seg);
        }
    }
    out
}

fn locate(source: Option<&SourceDoc>, pointer: &str, key: bool) -> Location {
    match source {
        Some(doc) => Location {
            file: doc.file.clone(),
            position: doc.position_of(pointer, key),
            option: None,
        },
        None => Location::default(),
    }
}

type TypeError = (String, String);

fn check_type(kind: KeyType, value: &Value) -> Result<(), TypeError> {
    let top = |msg: String| (String::new(), msg);
    match kind {
        KeyType::String | KeyType::Program => match value {
            Value::String(s) if !s.trim().is_empty() => Ok(()),
            Value::String(_) => Err(top("must not be empty".into())),
            other => Err(top(format!("must be text, got {}", describe(other)))),
        },
        KeyType::Name => match value {
            Value::String(s) => check_vm_name(s).map_err(top),
            other => Err(top(format!("must be text, got {}", describe(other)))),
        },
        KeyType::Memory => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(top(format!(
                        "must be a size like `2G`, got {}",
                        describe(other)
                    )));
                }
            };
            parse_memory_bytes(&text).map(|_| ()).map_err(top)
        }
        KeyType::Count => match count_value(value) {
            Some(n) if n >= 1 => Ok(()),
            Some(_) => Err(top("must be at least 1".into())),
            None => Err(top(format!(
                "must be a whole number, got {}",
                describe(value)
            ))),
        },
        KeyType::RawArgs => match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        return Err((
                            format!("/{i}"),
                            format!("must be text, got {}", describe(item)),
                        ));
                    }
                }
                Ok(())
            }
            other => Err(top(format!(
                "must be a list of strings, got {}",
                describe(other)
            ))),
        },
        KeyType::Arguments => check_arguments(value),
        KeyType::Storage => match value {
            Value::Array(_) => Ok(()),
            other => Err(top(format!(
                "must be a list of drives, got {}",
                describe(other)
            ))),
        },
        KeyType::Bool => match value {
            Value::Bool(_) => Ok(()),
            other => Err(top(format!(
                "must be true or false, got {}",
                describe(other)
            ))),
        },
        KeyType::ShutdownMethod => match value.as_str() {
            Some("acpi" | "agent") => Ok(()),
            _ => Err(top(format!(
                "must be `acpi` or `agent`, got {}",
                describe(value)
            ))),
        },
        KeyType::Firmware => match value.as_str() {
            Some(text) if crate::Firmware::parse(text).is_some() => Ok(()),
            _ => Err(top(format!(
                "must be `bios` or `uefi`, got {}",
                describe(value)
            ))),
        },
        KeyType::UserName => match value {
            Value::String(s) => maqet_seed::cloud_config::check_user_name(s).map_err(top),
            other => Err(top(format!("must be text, got {}", describe(other)))),
        },
        KeyType::Hostname => match value {
            Value::String(s) => maqet_seed::cloud_config::check_hostname(s).map_err(top),
            other => Err(top(format!("must be text, got {}", describe(other)))),
        },
        KeyType::SshKeys => match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("/{i}");
                    match item {
                        Value::String(line) => {
                            maqet_seed::cloud_config::check_authorized_key(line)
                                .map_err(|m| (at, m))?;
                        }
                        other => {
                            return Err((
                                at,
                                format!("must be a key line, got {}", describe(other)),
                            ));
                        }
                    }
                }
                Ok(())
            }
            other => Err(top(format!(
                "must be a list of public key lines, got {}",
                describe(other)
            ))),
        },
        KeyType::CloudData => match value {
            Value::Object(_) => Ok(()),
            Value::String(s) if !s.trim().is_empty() => Ok(()),
            other => Err(top(format!(
                "must be a mapping (cloud-config) or text, got {}",
                describe(other)
            ))),
        },
        KeyType::Ports => {
            super::forwards::parse_forwards(value)
                .map(drop)
                .map_err(|(index, message)| {
                    (index.map_or_else(String::new, |i| format!("/{i}")), message)
                })
        }
    }
}

/// Reads a count given as a number or as numeric text.
pub fn count_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn check_arguments(value: &Value) -> Result<(), TypeError> {
    let Value::Array(items) = value else {
        return Err((
            String::new(),
            format!("must be a list, got {}", describe(value)),
        ));
    };
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if !s.trim().is_empty() => {}
            Value::Object(map) if !map.is_empty() => {}
            other => {
                return Err((
                    format!("/{i}"),
                    format!(
                        "each entry must be `option: value`, `option: null` or a string, got {}",
                        describe(other)
                    ),
                ));
            }
        }
        if let Some(key) = argument_key(item)
            && is_single_instance(&key)
        {
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                return Err((
                    format!("/{i}"),
                    format!("`-{key}` may appear once, but entries {first} and {i} both set it"),
                ));
            }
            seen.push((key, i));
        }
    }
    Ok(())
}

fn check_conflicts(map: &serde_json::Map<String, Value>) -> Result<(), (String, String, String)> {
    let Some(Value::Array(arguments)) = map.get("arguments") else {
        return Ok(());
    };
    for decl in CONFIG_KEYS.iter().filter(|k| !k.same_as.is_empty()) {
        if !map.contains_key(decl.name) {
            continue;
        }
        if let Some((i, opt)) = arguments.iter().enumerate().find_map(|(i, item)| {
            argument_key(item)
                .filter(|k| decl.same_as.contains(&k.as_str()))
                .map(|k| (i, k))
        }) {
            return Err((
                format!("/arguments/{i}"),
                format!("arguments[{i}]"),
                format!(
                    "`-{opt}` sets what the key `{}` already sets; keep only one of them",
                    decl.name
                ),
            ));
        }
    }
    Ok(())
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text `{s}`"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_str;
    use serde_json::json;
    use std::path::Path;

    fn err_of(yaml: &str) -> String {
        let doc = parse_str(yaml, Some(Path::new("vm.yaml"))).unwrap();
        validate_config(&doc.value, Some(&doc))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_key_suggests_and_points_at_it() {
        let msg = err_of("name: a\nmemroy: 4G\n");
        assert!(msg.starts_with("vm.yaml:2:1:"), "{msg}");
        assert!(msg.contains("did you mean `memory`"), "{msg}");
    }

    #[test]
    fn bad_size_and_cpu() {
        let msg = err_of("memory: banana\n");
        assert!(
            msg.contains("vm.yaml:1:9") && msg.contains("banana"),
            "{msg}"
        );
        assert!(err_of("cpu: 0\n").contains("at least 1"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_vm_name("web-1.test_a").is_ok());
        for bad in ["../x", "-x", ".x", "a/b", "", &"a".repeat(65)] {
            assert!(check_vm_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_sizes() {
        const MIB: u64 = 1 << 20;
        assert_eq!(parse_memory_bytes("4G"), Ok(4096 * MIB));
        assert_eq!(parse_memory_bytes("512m"), Ok(512 * MIB));
        assert_eq!(parse_memory_bytes("512MiB"), Ok(512 * MIB));
        assert_eq!(parse_memory_bytes("1024"), Ok(1024 * MIB));
        assert_eq!(parse_memory_bytes("8192B"), Ok(8192));
        assert_eq!(parse_memory_bytes("1536K"), Ok(1536 * 1024));
        assert_eq!(parse_memory_bytes("64KiB"), Ok(64 * 1024));
        let small = parse_memory_bytes("1024B").unwrap_err();
        assert!(small.contains("below QEMU's minimum"), "{small}");
        assert!(
            parse_memory_bytes("12K")
                .unwrap_err()
                .contains("multiple of 8K")
        );
        assert!(parse_memory_bytes("0").is_err());
        assert!(parse_memory_bytes("4X").is_err());
        assert!(parse_memory_bytes("-1G").is_err());
        assert!(parse_memory_bytes("99999999999999T").is_err());
        assert_eq!(qemu_memory_text(512 * MIB), "512M");
        assert_eq!(qemu_memory_text(4096 * MIB), "4G");
        assert_eq!(qemu_memory_text(1536 * 1024), "1536K");
    }

    #[test]
    fn duplicate_single_instance_arguments_and_conflicts() {
        let v = json!({"arguments": [{"m": "1G"}, {"m": "2G"}]});
        assert!(
            validate_config(&v, None)
                .unwrap_err()
                .to_string()
                .contains("may appear once")
        );
        let v = json!({"memory": "1G", "arguments": [{"m": "2G"}]});
        assert!(
            validate_config(&v, None)
                .unwrap_err()
                .to_string()
                .contains("keep only one")
        );
        let v = json!({"arguments": [{"device": "a"}, {"device": "b"}]});
        assert!(validate_config(&v, None).is_ok());
    }

    #[test]
    fn storage_paths_map_to_pointers() {
        assert_eq!(storage_pointer("storage[1].size"), "/storage/1/size");
        assert_eq!(storage_pointer("[0].name"), "/storage/0/name");
    }
}
