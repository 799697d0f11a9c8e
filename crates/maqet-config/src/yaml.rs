//! Reading YAML into JSON values while remembering where each value came from.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

use super::ConfigError;

/// A line and column in a source file (both 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    /// Line number.
    pub line: usize,
    /// Column number.
    pub column: usize,
}

/// A parsed YAML document: its value as JSON plus the position of every key and value.
#[derive(Debug, Clone, Default)]
pub struct SourceDoc {
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
    /// The document as JSON.
    pub value: Value,
    /// Positions by JSON pointer (`/storage/0/size`); keys are stored under `<pointer>#key`.
    pub positions: HashMap<String, Position>,
}

impl SourceDoc {
    /// The position of the value at a JSON pointer, falling back to its closest parent.
    pub fn position_of(&self, pointer: &str, key: bool) -> Option<Position> {
        if key && let Some(p) = self.positions.get(&format!("{pointer}#key")) {
            return Some(*p);
        }
        let mut current = pointer.to_string();
        loop {
            if let Some(p) = self.positions.get(&current) {
                return Some(*p);
            }
            match current.rfind('/') {
                Some(idx) => current.truncate(idx),
                None => return None,
            }
        }
    }
}

enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(Node::Map(entries))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// How many YAML events aliases may replay in one config: far more than any hand-written
/// config needs, and a bound on the work a few hundred bytes of nested aliases can cause.
const MAX_ALIAS_REPLAYED_EVENTS: usize = 10_000;

/// Largest config file maqet reads (also `maqet.conf`): 1 MiB. Reading stops one byte past it.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads and parses one YAML config file: a regular file (no FIFO or device) of at most
/// [`MAX_CONFIG_BYTES`], in UTF-8.
pub fn read_file(path: &Path) -> Result<SourceDoc, ConfigError> {
    use crate::bounded_read::{BoundedReadError, read_regular};
    let bytes = read_regular(path, MAX_CONFIG_BYTES).map_err(|e| match e {
        BoundedReadError::Io(source) => ConfigError::Read {
            path: path.to_path_buf(),
            source,
        },
        BoundedReadError::NotRegular(what) => ConfigError::NotRegular {
            path: path.to_path_buf(),
            what,
        },
        BoundedReadError::TooLarge => ConfigError::TooLarge {
            path: path.to_path_buf(),
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    parse_str(&text, Some(path))
}

/// Parses YAML text. An empty document is an empty mapping.
pub fn parse_str(text: &str, file: Option<&Path>) -> Result<SourceDoc, ConfigError> {
    let mut doc = SourceDoc {
        file: file.map(Path::to_path_buf),
        ..SourceDoc::default()
    };
    if text.trim().is_empty() {
        doc.value = Value::Object(Map::new());
        return Ok(doc);
    }
    let options = serde_saphyr::options! {
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_ALIAS_REPLAYED_EVENTS,
        },
    };
    let node: Spanned<Node> =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| ConfigError::Syntax {
            location: super::Location {
                file: file.map(Path::to_path_buf),
                position: e
                    .location()
                    .filter(|l| l.line() > 0)
                    .map(|l| position(l.line() as usize, l.column() as usize)),
                option: None,
            },
            message: parser_message(&e.to_string()),
        })?;
    doc.value = convert(node, "", &mut doc.positions);
    Ok(doc)
}

/// The parser's own sentence, without its `error: line N column M:` prefix (maqet prints the
/// position itself).
fn parser_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let first = first.strip_prefix("error:").unwrap_or(first).trim();
    match first
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((position, rest)) if position.contains("column") => rest.trim().to_string(),
        _ => first.to_string(),
    }
}

fn position(spanned_line: usize, spanned_col: usize) -> Position {
    Position {
        line: spanned_line,
        column: spanned_col,
    }
}

fn convert(node: Spanned<Node>, pointer: &str, positions: &mut HashMap<String, Position>) -> Value {
    let loc = node.referenced;
    if loc.line() > 0 {
        positions.insert(
            pointer.to_string(),
            position(loc.line() as usize, loc.column() as usize),
        );
    }
    match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::Number(Number::from(i)),
        Node::UInt(u) => Value::Number(Number::from(u)),
        Node::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| convert(item, &format!("{pointer}/{i}"), positions))
                .collect(),
        ),
        Node::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let child = format!("{pointer}/{}", escape_pointer(&key.value));
                let kloc = key.referenced;
                if kloc.line() > 0 {
                    positions.insert(
                        format!("{child}#key"),
                        position(kloc.line() as usize, kloc.column() as usize),
                    );
                }
                let converted = convert(value, &child, positions);
                map.insert(key.value, converted);
            }
            Value::Object(map)
        }
    }
}

/// Escapes one JSON-pointer segment.
pub fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_positions_of_keys_and_values() {
        let doc = parse_str("name: web\nstorage:\n  - name: hdd\n    size: 4G\n", None).unwrap();
        assert_eq!(doc.value["storage"][0]["size"], "4G");
        let p = doc.position_of("/storage/0/size", false).unwrap();
        assert_eq!((p.line, p.column), (4, 11));
        let k = doc.position_of("/storage/0/size", true).unwrap();
        assert_eq!((k.line, k.column), (4, 5));
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = parse_str("name: x\n  memory: [4G\n", Some(Path::new("bad.yaml"))).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("bad.yaml:2:9: invalid YAML: "), "{text}");
        assert!(!text.contains("error:"), "{text}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert!(parse_str("memory: 1G\nmemory: 2G\n", None).is_err());
    }

    #[test]
    fn empty_file_is_empty_mapping() {
        assert_eq!(parse_str("\n", None).unwrap().value, serde_json::json!({}));
    }
}
