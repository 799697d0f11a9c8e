//! Building a VM config: reading files, merging them left to right, then applying overrides.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::keys::{self, KeyType};
use crate::yaml::SourceDoc;
use crate::{ConfigError, Location, merge_config, resolve_config_paths, validate_config, yaml};

/// A config built from files and overrides, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltConfig {
    /// The merged config.
    pub value: Value,
    /// The absolute paths of the files it came from, in merge order.
    pub files: Vec<PathBuf>,
}

/// Reads one file, resolves its relative paths and validates it on its own.
pub fn load_file(path: &Path) -> Result<SourceDoc, ConfigError> {
    let absolute = absolute(path);
    let mut doc = yaml::read_file(&absolute).map_err(|e| match e {
        ConfigError::Syntax {
            mut location,
            message,
        } => {
            location.file = Some(path.to_path_buf());
            ConfigError::Syntax { location, message }
        }
        other => other,
    })?;
    doc.file = Some(path.to_path_buf());
    validate_config(&doc.value, Some(&doc))?;
    if doc.value.get("binary").is_some() {
        // This file decides which program maqet runs: it must be as safe as that program.
        crate::trust::check_trusted(&absolute).map_err(|reason| ConfigError::Untrusted {
            path: path.to_path_buf(),
            reason,
        })?;
    }
    let base = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    resolve_config_paths(&mut doc.value, &base);
    Ok(doc)
}

/// Makes a path absolute against the current directory.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Converts option values (text from a command line, or JSON from the API) to config values of
/// the declared types, and validates them.
pub fn coerce_overrides(overrides: &Map<String, Value>) -> Result<Value, ConfigError> {
    let mut out = Map::new();
    for (raw_key, value) in overrides {
        let key = raw_key.replace('-', "_");
        let location = Location {
            option: Some(raw_key.replace('_', "-")),
            ..Location::default()
        };
        let invalid = |message: String| ConfigError::Invalid {
            location: location.clone(),
            field: key.clone(),
            message,
        };
        let Some(decl) = keys::find_key(&key) else {
            let hint = keys::suggest_key(&key)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(invalid(format!("not a VM config key{hint}")));
        };
        let coerced = match (decl.kind, value) {
            (KeyType::Count, Value::String(s)) => match s.trim().parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => return Err(invalid(format!("`{s}` is not a whole number"))),
            },
            (KeyType::Bool, Value::String(s)) => match s.trim() {
                "true" | "yes" | "on" => Value::Bool(true),
                "false" | "no" | "off" => Value::Bool(false),
                other => return Err(invalid(format!("`{other}` is not true or false"))),
            },
            (KeyType::CloudData, Value::String(s)) => {
                // Text that reads as a YAML mapping is cloud-config; anything else stays text.
                match yaml::parse_str(s, None).map(|doc| doc.value) {
                    Ok(mapping @ Value::Object(_)) => mapping,
                    _ => Value::String(s.clone()),
                }
            }
            (
                KeyType::Arguments
                | KeyType::RawArgs
                | KeyType::Storage
                | KeyType::Ports
                | KeyType::SshKeys,
                Value::String(s),
            ) => {
                yaml::parse_str(s, None)
                    .map_err(|e| invalid(format!("value is not a YAML/JSON list ({e})")))?
                    .value
            }
            (_, v) => v.clone(),
        };
        out.insert(key, coerced);
    }
    let value = Value::Object(out);
    validate_config(&value, None).map_err(|e| match e {
        ConfigError::Invalid {
            location:
                Location {
                    position: None,
                    file: None,
                    ..
                },
            field,
            message,
        } => ConfigError::Invalid {
            location: Location {
                option: Some(
                    field
                        .split(['.', '['])
                        .next()
                        .unwrap_or("")
                        .replace('_', "-"),
                ),
                ..Location::default()
            },
            field,
            message,
        },
        other => other,
    })?;
    Ok(value)
}

/// Reads, validates and merges config files left to right, then applies overrides.
pub fn build_config(
    files: &[PathBuf],
    overrides: &Map<String, Value>,
) -> Result<BuiltConfig, ConfigError> {
    let mut merged = Value::Object(Map::new());
    let mut absolute_files = Vec::with_capacity(files.len());
    for file in files {
        let doc = load_file(file)?;
        merge_config(&mut merged, &doc.value);
        absolute_files.push(absolute(file));
    }
    let over = coerce_overrides(overrides)?;
    merge_config(&mut merged, &over);
    validate_config(&merged, None)?;
    Ok(BuiltConfig {
        value: merged,
        files: absolute_files,
    })
}
