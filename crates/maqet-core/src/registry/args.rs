//! JSON arguments for registered commands and their conversion to typed parameters.

use std::path::PathBuf;

use serde_json::{Map, Value};

use maqet_command::{ArgError, FromArg};

use super::ParamKind;
use crate::MaqetError;

/// Arguments of one command call: a JSON object keyed by parameter name. The shared
/// [`maqet_command::Args`], handed out as the core's own parameter types ([`ArgType`]).
#[derive(Debug, Default, Clone)]
pub struct Args(maqet_command::Args);

impl Args {
    /// Wraps a JSON object; anything else is refused.
    pub fn new(command: &str, value: Value) -> Result<Args, MaqetError> {
        Ok(Args(maqet_command::Args::new(command, value)?))
    }

    /// Removes and converts one argument, applying the declared default when it is absent.
    pub fn take<T: ArgType>(&mut self, name: &str, default: Option<&str>) -> Result<T, MaqetError> {
        match self.0.take_value(name, default) {
            Some(value) => T::from_json(self.0.command(), name, value),
            None => T::absent(self.0.command(), name),
        }
    }

    /// Fails when arguments remain that no parameter took.
    pub fn ensure_consumed(&self) -> Result<(), MaqetError> {
        Ok(self.0.ensure_consumed()?)
    }
}

/// A Rust type usable as an `#[api_method]` parameter.
pub trait ArgType: Sized {
    /// How the parameter appears on the command line.
    const KIND: ParamKind;
    /// Whether the caller must supply it (when no default is declared).
    const REQUIRED: bool;
    /// The accepted values when the set is closed (an enum, see [`Choice`](super::Choice)).
    const CHOICES: &'static [&'static str] = &[];
    /// The kind of each item when the parameter is a list; else its own kind.
    const ITEM_KIND: ParamKind = Self::KIND;
    /// Converts a JSON value (strings are accepted for every kind, as typed on a command line).
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError>;
    /// The value when the argument is absent and has no default.
    fn absent(command: &str, name: &str) -> Result<Self, MaqetError> {
        Err(ArgError::Missing {
            command: command.to_string(),
            name: name.to_string(),
        }
        .into())
    }
}

pub(super) fn wrong_type(
    command: &str,
    name: &str,
    expected: &'static str,
    got: &Value,
) -> MaqetError {
    ArgError::wrong_type(command, name, expected, got).into()
}

/// Reads a value the way plugins read theirs (`maqet_command::FromArg`), so both refuse a bad
/// one with the same words.
fn shared<T: FromArg>(command: &str, name: &str, value: Value) -> Result<T, MaqetError> {
    Ok(T::from_json(command, name, value)?)
}

impl ArgType for String {
    const KIND: ParamKind = ParamKind::String;
    const REQUIRED: bool = true;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError> {
        shared(command, name, value)
    }
}

impl ArgType for PathBuf {
    const KIND: ParamKind = ParamKind::Path;
    const REQUIRED: bool = true;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError> {
        shared(command, name, value)
    }
}

impl ArgType for bool {
    const KIND: ParamKind = ParamKind::Bool;
    const REQUIRED: bool = false;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError> {
        shared(command, name, value)
    }
    fn absent(_: &str, _: &str) -> Result<Self, MaqetError> {
        Ok(false)
    }
}

macro_rules! number_arg {
    ($($ty:ty),*) => {$(
        impl ArgType for $ty {
            const KIND: ParamKind = <$ty as FromArg>::KIND;
            const REQUIRED: bool = true;
            fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError> {
                shared(command, name, value)
            }
        }
    )*};
}

number_arg!(u32, u64, i64, f64);

impl<T: ArgType> ArgType for Option<T> {
    const KIND: ParamKind = T::KIND;
    const REQUIRED: bool = false;
    const CHOICES: &'static [&'static str] = T::CHOICES;
    const ITEM_KIND: ParamKind = T::ITEM_KIND;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError> {
        T::from_json(command, name, value).map(Some)
    }
    fn absent(_: &str, _: &str) -> Result<Self, MaqetError> {
        Ok(None)
    }
}

impl<T: ArgType> ArgType for Vec<T> {
    const KIND: ParamKind = ParamKind::List;
    const REQUIRED: bool = false;
    const CHOICES: &'static [&'static str] = T::CHOICES;
    const ITEM_KIND: ParamKind = T::KIND;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .map(|item| T::from_json(command, name, item))
                .collect(),
            single => Ok(vec![T::from_json(command, name, single)?]),
        }
    }
    fn absent(_: &str, _: &str) -> Result<Self, MaqetError> {
        Ok(Vec::new())
    }
}

/// Free-form `--KEY VALUE` pairs, in the order given.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KeyValues(pub Map<String, Value>);

impl ArgType for KeyValues {
    const KIND: ParamKind = ParamKind::KeyValues;
    const REQUIRED: bool = false;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError> {
        match value {
            Value::Object(map) => Ok(KeyValues(map)),
            Value::String(s) => match serde_json::from_str::<Value>(&s) {
                Ok(Value::Object(map)) => Ok(KeyValues(map)),
                _ => Err(wrong_type(
                    command,
                    name,
                    "a JSON object",
                    &Value::String(s),
                )),
            },
            other => Err(wrong_type(command, name, "a JSON object", &other)),
        }
    }
    fn absent(_: &str, _: &str) -> Result<Self, MaqetError> {
        Ok(KeyValues::default())
    }
}

/// VM config values given as options (`--memory 4G`), applied on top of config files.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ConfigOverrides(pub Map<String, Value>);

impl ArgType for ConfigOverrides {
    const KIND: ParamKind = ParamKind::ConfigKeys;
    const REQUIRED: bool = false;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError> {
        KeyValues::from_json(command, name, value).map(|kv| ConfigOverrides(kv.0))
    }
    fn absent(_: &str, _: &str) -> Result<Self, MaqetError> {
        Ok(ConfigOverrides::default())
    }
}
