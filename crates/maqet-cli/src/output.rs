//! Printing results in the chosen format.

use std::fmt::Write as _;

use serde_json::Value;

use maqet_core::registry::{Choice, Output};

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human text where the command has one, else JSON.
    Auto,
    /// A JSON document.
    Json,
    /// A YAML document.
    Yaml,
    /// A table.
    Table,
    /// `key: value` lines.
    Plain,
}

impl Format {
    /// Every format, in the order help lists them.
    pub const ALL: [Format; 5] = [
        Format::Auto,
        Format::Json,
        Format::Yaml,
        Format::Table,
        Format::Plain,
    ];

    /// The format's `--format` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Table => "table",
            Format::Plain => "plain",
        }
    }

    /// Parses a `--format` value (clap has already checked it); anything else is `auto`.
    pub fn parse(text: &str) -> Format {
        Format::from_choice(text).unwrap_or(Format::Auto)
    }

    /// Whether output must be a pure machine-readable document.
    pub fn is_document(self) -> bool {
        matches!(self, Format::Json | Format::Yaml)
    }
}

maqet_core::named_choice!(Format);

/// Renders a result; `None` means print nothing.
pub fn render(output: &Output, format: Format) -> Option<String> {
    let text = match format {
        Format::Auto => match output.human() {
            Some(h) => h.into_owned(),
            None => output.json_text(),
        },
        Format::Json => output.json_text(),
        Format::Yaml => yaml(&output.value()),
        Format::Table => table(&output.value()),
        Format::Plain => plain(&output.value()),
    };
    if text.is_empty() { None } else { Some(text) }
}

fn pretty_json(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn yaml(value: &Value) -> String {
    match serde_saphyr::to_string(value) {
        Ok(s) => s.trim_end().to_string(),
        Err(_) => pretty_json(value),
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(",")
        }
        other => other.to_string(),
    }
}

fn table(value: &Value) -> String {
    let rows: Vec<&serde_json::Map<String, Value>> = match value {
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        Value::Object(map) => {
            let width = map.keys().map(String::len).max().unwrap_or(0);
            return map
                .iter()
                .map(|(k, v)| format!("{k:<width$}  {}", cell(v)))
                .collect::<Vec<_>>()
                .join("\n");
        }
        other => return cell(other),
    };
    if rows.is_empty() {
        return String::new();
    }
    let mut columns: Vec<&str> = Vec::new();
    for row in &rows {
        for key in row.keys() {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| r.get(*c).map_or_else(|| "-".into(), cell))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let header: Vec<String> = columns
        .iter()
        .zip(&widths)
        .map(|(c, w)| format!("{:<w$}", c.to_uppercase()))
        .collect();
    out.push_str(header.join("  ").trim_end());
    for row in cells {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = write!(out, "\n{}", line.join("  ").trim_end());
    }
    out
}

fn plain(value: &Value) -> String {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", cell(v)))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Object(_) => v.to_string(),
                other => cell(other),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => cell(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_use_the_union_of_keys() {
        let out = Output::from_value(
            json!([{"name": "a", "pid": 1}, {"name": "bb", "status": "x"}]),
            None,
        );
        assert_eq!(
            render(&out, Format::Table).unwrap(),
            "NAME  PID  STATUS\na     1    -\nbb    -    x"
        );
    }

    #[test]
    fn auto_prefers_human_text_and_empty_prints_nothing() {
        let out = Output::from_value(json!({"a": 1}), Some(String::new()));
        assert_eq!(render(&out, Format::Auto), None);
        assert_eq!(render(&out, Format::Json).unwrap(), "{\n  \"a\": 1\n}");
    }
}
