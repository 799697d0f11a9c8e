//! Typed arguments: a command's JSON arguments read into Rust values, with the refusals every
//! face of maqet gives for a bad value.
//!
//! [`FromArg`] reads one parameter's value; [`Args`] hands them out by name and notices
//! leftovers; [`Request`] is a whole command's typed arguments with its [`CommandSpec`], which
//! `#[derive(Request)]` (re-exported by `maqet-plugin-api`) writes for a plugin's struct.
//! The core's built-in parameters read strings, flags, numbers and durations through the same
//! functions, so a plugin refuses `--wait soon` with the sentence `maqet stop --timeout soon`
//! gives.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::duration::{DurationError, parse_duration, seconds};
use crate::{CommandSpec, ParamKind};

/// An argument that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    /// The arguments were not a JSON object.
    #[error("arguments for `{command}` must be a JSON object, got {got}")]
    NotAnObject {
        /// The command.
        command: String,
        /// What was given, as JSON.
        got: String,
    },
    /// A required argument is missing.
    #[error("`{command}` needs the argument `{name}`")]
    Missing {
        /// The command.
        command: String,
        /// The parameter.
        name: String,
    },
    /// A value of the wrong type.
    #[error("`{command}`: argument `{name}` must be {expected}, got {got}")]
    WrongType {
        /// The command.
        command: String,
        /// The parameter.
        name: String,
        /// What it must be ("a whole number").
        expected: &'static str,
        /// What was given, as JSON.
        got: String,
    },
    /// A value outside a closed set of choices.
    #[error(
        "`{command}`: `{text}` is not a valid `{name}`; use one of {}",
        choices.join(", ")
    )]
    InvalidChoice {
        /// The command.
        command: String,
        /// The parameter.
        name: String,
        /// The value given.
        text: String,
        /// The values it may have.
        choices: Vec<String>,
    },
    /// Arguments no parameter takes.
    #[error("`{command}` does not take the argument(s) {}", names.join(", "))]
    Unexpected {
        /// The command.
        command: String,
        /// The names left over.
        names: Vec<String>,
    },
    /// A duration no clock can wait for.
    #[error(transparent)]
    Duration(#[from] DurationError),
}

impl ArgError {
    /// A value of the wrong type for parameter `name` of `command`.
    pub fn wrong_type(command: &str, name: &str, expected: &'static str, got: &Value) -> Self {
        ArgError::WrongType {
            command: command.to_owned(),
            name: name.to_owned(),
            expected,
            got: got.to_string(),
        }
    }
}

/// A Rust type a command parameter can have.
pub trait FromArg: Sized {
    /// How the parameter appears on the command line.
    const KIND: ParamKind;
    /// Whether the caller must supply it (when no default is declared).
    const REQUIRED: bool;
    /// The accepted values when the set is closed (an enum, see [`Choice`]).
    const CHOICES: &'static [&'static str] = &[];
    /// Converts a JSON value (strings are accepted for every kind, as typed on a command line).
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, ArgError>;
    /// The value when the argument is absent and has no default.
    fn absent(command: &str, name: &str) -> Result<Self, ArgError> {
        Err(ArgError::Missing {
            command: command.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl FromArg for String {
    const KIND: ParamKind = ParamKind::String;
    const REQUIRED: bool = true;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, ArgError> {
        match value {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(ArgError::wrong_type(command, name, "a string", &other)),
        }
    }
}

impl FromArg for PathBuf {
    const KIND: ParamKind = ParamKind::Path;
    const REQUIRED: bool = true;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, ArgError> {
        String::from_json(command, name, value).map(PathBuf::from)
    }
}

impl FromArg for bool {
    const KIND: ParamKind = ParamKind::Bool;
    const REQUIRED: bool = false;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, ArgError> {
        match &value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) => match s.as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(ArgError::wrong_type(command, name, "true or false", &value)),
            },
            _ => Err(ArgError::wrong_type(command, name, "true or false", &value)),
        }
    }
    fn absent(_: &str, _: &str) -> Result<Self, ArgError> {
        Ok(false)
    }
}

macro_rules! number_arg {
    ($($ty:ty => $kind:ident, $what:literal;)*) => {$(
        impl FromArg for $ty {
            const KIND: ParamKind = ParamKind::$kind;
            const REQUIRED: bool = true;
            fn from_json(command: &str, name: &str, value: Value) -> Result<Self, ArgError> {
                let parsed = match &value {
                    Value::Number(n) => n.to_string().parse::<$ty>().ok(),
                    Value::String(s) => s.trim().parse::<$ty>().ok(),
                    _ => None,
                };
                parsed.ok_or_else(|| ArgError::wrong_type(command, name, $what, &value))
            }
        }
    )*};
}

number_arg! {
    u32 => Int, "a whole number";
    u64 => Int, "a whole number";
    i64 => Int, "a whole number";
    f64 => Float, "a number";
}

/// A duration given as a number of seconds or text with units, for parameter `name`.
pub fn duration_from_json(command: &str, name: &str, value: Value) -> Result<Duration, ArgError> {
    let option = name.replace('_', "-");
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(value) => Ok(seconds(&option, value)?),
            None => Ok(parse_duration(&option, &n.to_string())?),
        },
        Value::String(text) => Ok(parse_duration(&option, &text)?),
        other => Err(ArgError::wrong_type(
            command,
            name,
            "a number of seconds or a duration such as \"2m\"",
            &other,
        )),
    }
}

impl FromArg for Duration {
    const KIND: ParamKind = ParamKind::Duration;
    const REQUIRED: bool = true;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, ArgError> {
        duration_from_json(command, name, value)
    }
}

impl<T: FromArg> FromArg for Option<T> {
    const KIND: ParamKind = T::KIND;
    const REQUIRED: bool = false;
    const CHOICES: &'static [&'static str] = T::CHOICES;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, ArgError> {
        T::from_json(command, name, value).map(Some)
    }
    fn absent(_: &str, _: &str) -> Result<Self, ArgError> {
        Ok(None)
    }
}

impl<T: FromArg> FromArg for Vec<T> {
    const KIND: ParamKind = ParamKind::List;
    const REQUIRED: bool = false;
    const CHOICES: &'static [&'static str] = T::CHOICES;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, ArgError> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .map(|item| T::from_json(command, name, item))
                .collect(),
            single => Ok(vec![T::from_json(command, name, single)?]),
        }
    }
    fn absent(_: &str, _: &str) -> Result<Self, ArgError> {
        Ok(Vec::new())
    }
}

/// An enum a parameter takes by name (`--to nomad`); `#[derive(Choice)]` writes it for an enum
/// of unit variants, named in kebab-case.
pub trait Choice: Sized + Copy + 'static {
    /// Every accepted name, in the order help lists them.
    const CHOICES: &'static [&'static str];
    /// The value of one of [`Choice::CHOICES`]; `None` for any other text.
    fn from_choice(name: &str) -> Option<Self>;
    /// The name of this value.
    fn choice_name(self) -> &'static str;
}

/// The value named by `value` (a string), or [`ArgError::InvalidChoice`] listing the names.
pub fn choice_from_json<T: Choice>(command: &str, name: &str, value: Value) -> Result<T, ArgError> {
    let text = String::from_json(command, name, value)?;
    T::from_choice(&text).ok_or_else(|| ArgError::InvalidChoice {
        command: command.to_owned(),
        name: name.to_owned(),
        text,
        choices: T::CHOICES.iter().map(|c| (*c).to_owned()).collect(),
    })
}

/// Arguments of one command call: a JSON object keyed by parameter name, handed out typed.
#[derive(Debug, Default, Clone)]
pub struct Args {
    command: String,
    values: Map<String, Value>,
}

impl Args {
    /// Wraps a JSON object (`null` is no arguments); anything else is refused.
    pub fn new(command: &str, value: Value) -> Result<Args, ArgError> {
        let values = match value {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                return Err(ArgError::NotAnObject {
                    command: command.to_owned(),
                    got: other.to_string(),
                });
            }
        };
        Ok(Args {
            command: command.to_owned(),
            values,
        })
    }

    /// Removes and converts one argument, applying the declared default when it is absent.
    pub fn take<T: FromArg>(&mut self, name: &str, default: Option<&str>) -> Result<T, ArgError> {
        match self.take_value(name, default) {
            Some(value) => T::from_json(&self.command, name, value),
            None => T::absent(&self.command, name),
        }
    }

    /// Removes one argument as JSON: the value given, else the declared default as a string,
    /// else `None`. For readers of other types than [`FromArg`] ones (the core's own).
    pub fn take_value(&mut self, name: &str, default: Option<&str>) -> Option<Value> {
        match self.values.remove(name) {
            Some(Value::Null) | None => default.map(|d| Value::String(d.to_owned())),
            Some(value) => Some(value),
        }
    }

    /// The command these arguments are for.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Fails when arguments remain that no parameter took.
    pub fn ensure_consumed(&self) -> Result<(), ArgError> {
        if self.values.is_empty() {
            return Ok(());
        }
        Err(ArgError::Unexpected {
            command: self.command.clone(),
            names: self.values.keys().cloned().collect(),
        })
    }
}

/// One command's typed arguments: its description and how to read it from JSON. A plugin
/// derives it (`#[derive(Request)]`) on a struct whose fields are the parameters.
pub trait Request: Sized {
    /// The command's description: name, help and one [`crate::ParamSpec`] per field.
    fn spec() -> CommandSpec;
    /// Reads the arguments of one call; refuses a missing, mistyped or unknown one.
    fn from_args(args: Value) -> Result<Self, ArgError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Format {
        Libvirt,
        Nomad,
    }

    impl Choice for Format {
        const CHOICES: &'static [&'static str] = &["libvirt", "nomad"];
        fn from_choice(name: &str) -> Option<Self> {
            match name {
                "libvirt" => Some(Format::Libvirt),
                "nomad" => Some(Format::Nomad),
                _ => None,
            }
        }
        fn choice_name(self) -> &'static str {
            Self::CHOICES[self as usize]
        }
    }

    #[test]
    fn values_are_read_typed_and_bad_ones_refused_with_the_place() {
        let mut args = Args::new("x", json!({"wait": "2m", "n": "3", "to": "nomad"})).unwrap();
        let wait: Duration = args.take("wait", None).unwrap();
        let n: u32 = args.take("n", None).unwrap();
        let to: Format = choice_from_json("x", "to", json!("nomad")).unwrap();
        assert_eq!((wait, n, to), (Duration::from_secs(120), 3, Format::Nomad));
        assert!(args.ensure_consumed().is_err());

        let err = Duration::from_json("x", "wait_for", json!("soon")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`--wait-for` must be a number of seconds"),
            "{err}"
        );
        let err = choice_from_json::<Format>("export", "to", json!("xml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`export`: `xml` is not a valid `to`; use one of libvirt, nomad"
        );
        let missing = Args::new("x", Value::Null)
            .unwrap()
            .take::<String>("vm", None)
            .unwrap_err();
        assert_eq!(missing.to_string(), "`x` needs the argument `vm`");
    }
}
