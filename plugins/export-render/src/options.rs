//! maqet's `arguments` list and raw `args` words, read back into QEMU options.
//!
//! Each entry becomes one [`QemuOption`]: its name (`device`), its value as QEMU would see it
//! (`virtio-net-pci,netdev=n0`), the value split into `key[=value]` parts, and the argv words
//! maqet passes to QEMU for it, so an option the exporters do not model can be passed through
//! unchanged.

use serde_json::{Map, Value};

/// One QEMU command-line option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuOption {
    /// The option's name without dashes (`device`, `m`, `no-reboot`).
    pub name: String,
    /// Its value text, when it has one (`virtio-rng-pci,id=rng0`).
    pub value: Option<String>,
    /// The argv words maqet gives QEMU for it (`["-device", "virtio-rng-pci,id=rng0"]`).
    pub argv: Vec<String>,
}

impl QemuOption {
    fn new(name: &str, value: Option<String>) -> Self {
        let name = name.trim_start_matches('-').to_owned();
        let mut argv = vec![format!("-{name}")];
        argv.extend(value.clone());
        Self { name, value, argv }
    }

    /// The value split at unescaped commas: `[("user", None), ("id", Some("n0"))]`.
    pub fn parts(&self) -> Vec<(String, Option<String>)> {
        self.value.as_deref().map(split_parts).unwrap_or_default()
    }

    /// The first part when it has no `=` (a device's driver, a netdev's type).
    pub fn implied(&self) -> Option<String> {
        match self.parts().into_iter().next() {
            Some((key, None)) => Some(key),
            _ => None,
        }
    }

    /// The value of `key=...` in the option's value.
    pub fn get(&self, key: &str) -> Option<String> {
        self.parts()
            .into_iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v)
    }
}

/// Reads the `arguments` list (or mapping) of a VM config.
pub fn from_arguments(arguments: Option<&Value>) -> Vec<QemuOption> {
    let mut out = Vec::new();
    match arguments {
        Some(Value::Array(list)) => {
            for item in list {
                match item {
                    Value::String(text) => out.push(from_text(text)),
                    Value::Object(map) => out.extend(from_entry(map)),
                    _ => {}
                }
            }
        }
        Some(Value::Object(map)) => {
            for (key, value) in map {
                out.push(QemuOption::new(key, option_text(value)));
            }
        }
        _ => {}
    }
    out
}

/// Reads raw argv words (`args`): a word starting with `-` opens an option and the next word
/// that does not is its value.
pub fn from_raw_args(words: &[String]) -> Vec<QemuOption> {
    let mut out: Vec<QemuOption> = Vec::new();
    let mut words = words.iter().peekable();
    while let Some(word) = words.next() {
        if !word.starts_with('-') {
            // A stray value with no option before it: keep it as its own word.
            out.push(QemuOption {
                name: String::new(),
                value: Some(word.clone()),
                argv: vec![word.clone()],
            });
            continue;
        }
        let value = match words.peek() {
            Some(next) if !next.starts_with('-') => words.next().cloned(),
            _ => None,
        };
        out.push(QemuOption::new(word, value));
    }
    out
}

/// `"device virtio-rng-pci"` or `"-nographic"`.
fn from_text(text: &str) -> QemuOption {
    let text = text.trim();
    match text.split_once(char::is_whitespace) {
        Some((name, rest)) => QemuOption::new(name, Some(rest.trim().to_owned())),
        None => QemuOption::new(text, None),
    }
}

/// `{device: virtio-net-pci, netdev: n0}`: the first key is the option, the rest its properties.
fn from_entry(map: &Map<String, Value>) -> Option<QemuOption> {
    let mut entries = map.iter();
    let (name, first) = entries.next()?;
    let mut parts = Vec::new();
    if let Some(text) = option_text(first) {
        parts.push(text);
    }
    for (key, value) in entries {
        match value {
            Value::Null => parts.push(key.clone()),
            Value::Object(inner) => {
                let mut nested = Vec::new();
                flatten(&format!("{key}."), inner, &mut nested);
                parts.extend(nested);
            }
            other => parts.push(format!("{key}={}", option_text(other).unwrap_or_default())),
        }
    }
    let value = (!parts.is_empty()).then(|| parts.join(","));
    Some(QemuOption::new(name, value))
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "on" } else { "off" }.to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An option value the way QEMU takes it: `a,b` for lists, `k=v,flag` for maps.
fn option_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(scalar_text)
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Object(map) => {
            let mut parts = Vec::new();
            flatten("", map, &mut parts);
            Some(parts.join(","))
        }
        scalar => scalar_text(scalar),
    }
}

fn flatten(prefix: &str, map: &Map<String, Value>, parts: &mut Vec<String>) {
    for (key, value) in map {
        let key = format!("{prefix}{key}");
        match value {
            Value::Null => parts.push(key),
            Value::Object(inner) => flatten(&format!("{key}."), inner, parts),
            other => parts.push(format!("{key}={}", option_text(other).unwrap_or_default())),
        }
    }
}

/// Splits `a,b=c,,d` at unescaped commas (`,,` is a literal comma).
pub fn split_parts(text: &str) -> Vec<(String, Option<String>)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                current.push(',');
                continue;
            }
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (p, None),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_become_options_with_their_argv() {
        let options = from_arguments(Some(&json!([
            {"kernel": "/boot/vmlinuz"}, "nographic", "device virtio-rng-pci",
            {"device": {"virtio-rng-pci": null, "id": "rng0"}},
            {"netdev": "user", "id": "n0"},
            {"no-reboot": null}
        ])));
        let argv: Vec<Vec<String>> = options.iter().map(|o| o.argv.clone()).collect();
        assert_eq!(
            argv,
            [
                vec!["-kernel", "/boot/vmlinuz"],
                vec!["-nographic"],
                vec!["-device", "virtio-rng-pci"],
                vec!["-device", "virtio-rng-pci,id=rng0"],
                vec!["-netdev", "user,id=n0"],
                vec!["-no-reboot"],
            ]
        );
        assert_eq!(options[4].implied().as_deref(), Some("user"));
        assert_eq!(options[4].get("id").as_deref(), Some("n0"));
    }

    #[test]
    fn raw_args_pair_options_with_values() {
        let words: Vec<String> = ["-nodefaults", "-vga", "std", "-S"]
            .map(String::from)
            .to_vec();
        let names: Vec<(String, Option<String>)> = from_raw_args(&words)
            .into_iter()
            .map(|o| (o.name, o.value))
            .collect();
        assert_eq!(
            names,
            [
                ("nodefaults".to_owned(), None),
                ("vga".to_owned(), Some("std".to_owned())),
                ("S".to_owned(), None)
            ]
        );
    }

    #[test]
    fn escaped_commas_stay_in_values() {
        assert_eq!(
            split_parts("file=/a,,b,ro"),
            [
                ("file".to_owned(), Some("/a,b".to_owned())),
                ("ro".to_owned(), None)
            ]
        );
    }
}
