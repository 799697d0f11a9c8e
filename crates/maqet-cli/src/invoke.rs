//! Turning parsed command-line values into a command's JSON arguments.

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde_json::{Map, Value};

use crate::commands::CommandDef;
use crate::globals::GLOBAL_OPTIONS;
use crate::tree::EXTRA_ARG;
use maqet_core::MaqetError;
use maqet_core::registry::{ParamKind, config_flag_keys, config_flag_value};

/// JSON arguments for `def` from its parsed matches. Relative paths are made absolute against
/// the current directory, so they mean what the user typed wherever the command runs.
pub fn arguments(def: &CommandDef, matches: &ArgMatches) -> Result<Value, MaqetError> {
    let mut out = Map::new();
    let mut extra_target: Option<String> = None;
    for param in &def.params {
        match param.kind {
            ParamKind::ConfigKeys => {
                let mut overrides = Map::new();
                for key in config_flag_keys() {
                    let id = format!("config:{}", key.name);
                    if let Ok(Some(v)) = matches.try_get_one::<String>(&id) {
                        overrides.insert(key.name.to_string(), config_flag_value(key, v));
                    }
                }
                out.insert(param.name.clone(), Value::Object(overrides));
            }
            ParamKind::KeyValues => extra_target = Some(param.name.clone()),
            ParamKind::Bool => {
                let set = matches.get_flag(&param.name);
                let from_conf = param
                    .default
                    .as_deref()
                    .map(|d| matches!(d, "true" | "yes" | "on" | "1"));
                out.insert(
                    param.name.clone(),
                    Value::Bool(set || from_conf.unwrap_or(false)),
                );
            }
            ParamKind::List => {
                if let Some(values) = matches.get_many::<String>(&param.name) {
                    let items = values.map(|v| Value::String(v.clone())).collect();
                    out.insert(param.name.clone(), Value::Array(items));
                }
            }
            ParamKind::Path => {
                if let Some(v) = matches.get_one::<String>(&param.name) {
                    out.insert(param.name.clone(), Value::String(absolute(v)));
                }
            }
            _ => {
                if let Some(v) = matches.get_one::<String>(&param.name) {
                    let explicit =
                        matches.value_source(&param.name) != Some(ValueSource::DefaultValue);
                    if explicit || param.default.is_some() {
                        out.insert(param.name.clone(), Value::String(v.clone()));
                    }
                }
            }
        }
    }
    if let Some(target) = extra_target {
        let words: Vec<String> = matches
            .get_many::<String>(EXTRA_ARG)
            .map(|v| v.cloned().collect())
            .unwrap_or_default();
        let mut pairs = key_values(&words)?;
        // Global options typed after free words were taken as free words; they are not arguments.
        for global in GLOBAL_OPTIONS {
            pairs.remove(global.long);
        }
        // A declared option written after free `--KEY VALUE` words still belongs to its parameter.
        for param in def
            .params
            .iter()
            .filter(|p| !p.positional && p.kind != ParamKind::KeyValues)
        {
            let Some(v) = pairs.remove(&param.long()) else {
                continue;
            };
            if param.kind == ParamKind::Bool {
                let on = match &v {
                    Value::Bool(b) => *b,
                    Value::String(s) => matches!(s.as_str(), "true" | "yes" | "on" | "1"),
                    _ => false,
                };
                if on {
                    out.insert(param.name.clone(), Value::Bool(true));
                }
                continue;
            }
            if !out.contains_key(&param.name) {
                let v = match v {
                    Value::String(s) => Value::String(s),
                    other => Value::String(other.to_string()),
                };
                out.insert(param.name.clone(), v);
            }
        }
        out.insert(target, Value::Object(pairs));
    }
    Ok(Value::Object(out))
}

fn absolute(path: &str) -> String {
    maqet_core::config::absolute(std::path::Path::new(path))
        .to_string_lossy()
        .into_owned()
}

/// Parses `--key value`, `--key=value` and bare `--flag` words. Values parse as JSON when they
/// can (numbers, booleans, objects), else they stay strings.
pub fn key_values(words: &[String]) -> Result<Map<String, Value>, MaqetError> {
    let mut out = Map::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        let Some(name) = word.strip_prefix("--") else {
            return Err(MaqetError::invalid(format!(
                "unexpected `{word}`: extra arguments must look like `--name value`"
            )));
        };
        if name.is_empty() {
            return Err(MaqetError::invalid("`--` needs a name, like `--id dev0`"));
        }
        let (key, value) = match name.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => match words.get(i + 1) {
                Some(next) if !next.starts_with("--") => {
                    i += 1;
                    (name.to_string(), Some(next.clone()))
                }
                _ => (name.to_string(), None),
            },
        };
        let parsed = match value {
            None => Value::Bool(true),
            Some(v) => serde_json::from_str::<Value>(&v).unwrap_or(Value::String(v)),
        };
        out.insert(key, parsed);
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn free_options_parse_as_json_when_they_can() {
        let words: Vec<String> = [
            "--filename",
            "/tmp/x.ppm",
            "--hold-time=50",
            "--force",
            "--props",
            "{\"a\":1}",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let map = key_values(&words).unwrap();
        assert_eq!(
            Value::Object(map),
            json!({"filename": "/tmp/x.ppm", "hold-time": 50, "force": true, "props": {"a": 1}})
        );
    }

    #[test]
    fn stray_words_are_refused() {
        assert!(key_values(&["oops".to_string()]).is_err());
    }
}
