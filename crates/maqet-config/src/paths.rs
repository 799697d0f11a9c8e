//! Resolving relative paths in a config file against that file's directory.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `arguments` options whose value is a path.
const PATH_OPTIONS: &[&str] = &[
    "kernel", "initrd", "bios", "pflash", "dtb", "L", "pidfile", "mem-path",
];
/// Drive fields holding paths.
const DRIVE_PATH_FIELDS: &[&str] = &["file", "path", "backing_file"];
/// Prefixes inside `k=v,k=v` option strings whose value is a path.
const INLINE_PATH_KEYS: &[&str] = &["file=", "path=", "filename="];

/// Expands a leading `~` and makes `path` absolute against `base`.
pub fn resolve_path(path: &str, base: &Path) -> String {
    let expanded = expand_home(path);
    let p = Path::new(&expanded);
    if p.is_absolute() {
        expanded
    } else {
        base.join(p).to_string_lossy().into_owned()
    }
}

fn expand_home(path: &str) -> String {
    if (path == "~" || path.starts_with("~/"))
        && let Some(home) = std::env::var_os("HOME")
    {
        return format!("{}{}", PathBuf::from(home).display(), &path[1..]);
    }
    path.to_string()
}

/// Rewrites every path in a single config file's value so it no longer depends on the
/// directory the file was in.
pub fn resolve_config_paths(config: &mut Value, base: &Path) {
    let Some(map) = config.as_object_mut() else {
        return;
    };
    if let Some(Value::String(binary)) = map.get_mut("binary")
        && (binary.contains('/') || binary.starts_with('~'))
    {
        *binary = resolve_path(binary, base);
    }
    if let Some(Value::Array(drives)) = map.get_mut("storage") {
        for drive in drives.iter_mut().filter_map(Value::as_object_mut) {
            for field in DRIVE_PATH_FIELDS {
                if let Some(Value::String(p)) = drive.get_mut(*field) {
                    *p = resolve_path(p, base);
                }
            }
            // `from:` and `checksums:` hold a URL or a path.
            for field in ["from", "checksums"] {
                if let Some(Value::String(p)) = drive.get_mut(field)
                    && !p.contains("://")
                {
                    *p = resolve_path(p, base);
                }
            }
        }
    }
    if let Some(Value::Array(items)) = map.get_mut("arguments") {
        for item in items.iter_mut() {
            resolve_argument(item, base);
        }
    }
}

fn resolve_argument(item: &mut Value, base: &Path) {
    let Value::Object(map) = item else { return };
    for (key, value) in map.iter_mut() {
        match value {
            Value::String(s) if PATH_OPTIONS.contains(&key.as_str()) => {
                *s = resolve_path(s, base);
            }
            Value::String(s) => *s = resolve_inline(s, base),
            Value::Object(props) => {
                for (prop, v) in props.iter_mut() {
                    if let Value::String(s) = v
                        && matches!(prop.as_str(), "file" | "path" | "filename")
                    {
                        *s = resolve_path(s, base);
                    }
                }
            }
            _ => {}
        }
    }
}

fn resolve_inline(option: &str, base: &Path) -> String {
    if !INLINE_PATH_KEYS.iter().any(|k| option.contains(k)) {
        return option.to_string();
    }
    option
        .split(',')
        .map(|part| {
            for key in INLINE_PATH_KEYS {
                if let Some(value) = part.strip_prefix(key) {
                    return format!("{key}{}", resolve_path(value, base));
                }
            }
            part.to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relative_paths_follow_the_file() {
        let mut cfg = json!({
            "storage": [{"name": "hdd", "file": "disks/a.qcow2"}, {"name": "abs", "file": "/x.img"}],
            "arguments": [{"kernel": "boot/vmlinuz"}, {"drive": "file=d.img,if=virtio"},
                          {"device": "virtio-rng-pci"}]
        });
        resolve_config_paths(&mut cfg, Path::new("/cfg"));
        assert_eq!(cfg["storage"][0]["file"], "/cfg/disks/a.qcow2");
        assert_eq!(cfg["storage"][1]["file"], "/x.img");
        assert_eq!(cfg["arguments"][0]["kernel"], "/cfg/boot/vmlinuz");
        assert_eq!(cfg["arguments"][1]["drive"], "file=/cfg/d.img,if=virtio");
        assert_eq!(cfg["arguments"][2]["device"], "virtio-rng-pci");
    }
}
