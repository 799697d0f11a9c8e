//! Durations and byte sizes as command parameters.
//!
//! A handler declares `timeout: Duration` or `size: ByteSize` and receives the checked value.
//! Callers write them the way they think of them: on the command line and in JSON as text
//! (`"2m"`, `"4G"`) or as a number (seconds; bytes), and in Rust through the builder, whose
//! setters take `impl Into<DurationArg>` / `impl Into<ByteSizeArg>` (`60.0`, `60`, `"2m"`,
//! `Duration::from_secs(60)`; `"4G"`, `4 << 30`). The text and numbers a builder got are read
//! when the call is sent, by the same function the command line uses, so every face accepts
//! and refuses the same values with the same message.

use std::time::Duration;

use maqet_storage::ByteSize;
use serde_json::Value;

use super::{ArgType, ParamKind};
use crate::MaqetError;
use crate::seconds::{parse_duration, seconds};

/// A duration as a Rust caller gave it to a builder, read when the call is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationArg {
    /// A number of seconds.
    Seconds(f64),
    /// Text: seconds or a duration with units (`"2m"`, `"500ms"`).
    Text(String),
    /// A `Duration` (checked against the same ten-year limit).
    Exact(Duration),
}

impl From<f64> for DurationArg {
    fn from(value: f64) -> Self {
        DurationArg::Seconds(value)
    }
}

macro_rules! whole_seconds {
    ($($ty:ty),*) => {$(
        impl From<$ty> for DurationArg {
            fn from(value: $ty) -> Self {
                DurationArg::Seconds(value as f64)
            }
        }
    )*};
}
whole_seconds!(i32, u32, i64, u64);

impl From<&str> for DurationArg {
    fn from(value: &str) -> Self {
        DurationArg::Text(value.to_string())
    }
}

impl From<String> for DurationArg {
    fn from(value: String) -> Self {
        DurationArg::Text(value)
    }
}

impl From<Duration> for DurationArg {
    fn from(value: Duration) -> Self {
        DurationArg::Exact(value)
    }
}

impl DurationArg {
    /// The checked duration, for parameter `name`.
    pub fn to_duration(&self, name: &str) -> Result<Duration, MaqetError> {
        let option = name.replace('_', "-");
        match self {
            DurationArg::Seconds(value) => seconds(&option, *value),
            DurationArg::Text(text) => parse_duration(&option, text),
            DurationArg::Exact(value) => seconds(&option, value.as_secs_f64()).map(|_| *value),
        }
    }
}

impl ArgType for Duration {
    const KIND: ParamKind = ParamKind::Duration;
    const REQUIRED: bool = true;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError> {
        Ok(maqet_command::duration_from_json(command, name, value)?)
    }
}

/// A byte size as a Rust caller gave it to a builder, read when the call is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum ByteSizeArg {
    /// A number of bytes.
    Bytes(u64),
    /// Text: `"4G"`, `"512M"`, `"1048576"`.
    Text(String),
}

impl From<u64> for ByteSizeArg {
    fn from(value: u64) -> Self {
        ByteSizeArg::Bytes(value)
    }
}

impl From<i32> for ByteSizeArg {
    fn from(value: i32) -> Self {
        // A negative literal stays text, so it is refused with the same message as typed.
        u64::try_from(value).map_or_else(|_| ByteSizeArg::Text(value.to_string()), Self::Bytes)
    }
}

impl From<ByteSize> for ByteSizeArg {
    fn from(value: ByteSize) -> Self {
        ByteSizeArg::Bytes(value.bytes())
    }
}

impl From<&str> for ByteSizeArg {
    fn from(value: &str) -> Self {
        ByteSizeArg::Text(value.to_string())
    }
}

impl From<String> for ByteSizeArg {
    fn from(value: String) -> Self {
        ByteSizeArg::Text(value)
    }
}

impl ByteSizeArg {
    /// The checked size, for parameter `name`.
    pub fn to_byte_size(&self, name: &str) -> Result<ByteSize, MaqetError> {
        let text = match self {
            ByteSizeArg::Bytes(bytes) => bytes.to_string(),
            ByteSizeArg::Text(text) => text.clone(),
        };
        text.parse::<ByteSize>().map_err(|e| {
            MaqetError::with_source(
                crate::ErrorKind::InvalidInput,
                format!(
                    "`--{}` must be a size such as 4G, 512M or a number of bytes",
                    name.replace('_', "-")
                ),
                e,
            )
        })
    }
}

impl ArgType for ByteSize {
    const KIND: ParamKind = ParamKind::ByteSize;
    const REQUIRED: bool = true;
    fn from_json(command: &str, name: &str, value: Value) -> Result<Self, MaqetError> {
        let given = match value {
            Value::Number(n) => ByteSizeArg::Text(n.to_string()),
            Value::String(text) => ByteSizeArg::Text(text),
            other => {
                return Err(super::args::wrong_type(
                    command,
                    name,
                    "a size such as \"4G\"",
                    &other,
                ));
            }
        };
        given.to_byte_size(name)
    }
}

/// Turns what a request holds for a parameter into what its handler takes: a [`DurationArg`]
/// into a checked `Duration`, a [`ByteSizeArg`] into a `ByteSize`, anything else unchanged.
/// The generated `Request::send_to` calls it for every parameter.
pub trait Resolve<T> {
    /// The handler's value for parameter `name`.
    fn resolve(self, name: &str) -> Result<T, MaqetError>;
}

impl<T> Resolve<T> for T {
    fn resolve(self, _: &str) -> Result<T, MaqetError> {
        Ok(self)
    }
}

impl Resolve<Duration> for DurationArg {
    fn resolve(self, name: &str) -> Result<Duration, MaqetError> {
        self.to_duration(name)
    }
}

impl Resolve<Option<Duration>> for Option<DurationArg> {
    fn resolve(self, name: &str) -> Result<Option<Duration>, MaqetError> {
        self.map(|d| d.to_duration(name)).transpose()
    }
}

impl Resolve<ByteSize> for ByteSizeArg {
    fn resolve(self, name: &str) -> Result<ByteSize, MaqetError> {
        self.to_byte_size(name)
    }
}

impl Resolve<Option<ByteSize>> for Option<ByteSizeArg> {
    fn resolve(self, name: &str) -> Result<Option<ByteSize>, MaqetError> {
        self.map(|s| s.to_byte_size(name)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_numbers_and_units_from_every_face() {
        let from_json = |v: Value| Duration::from_json("stop", "timeout", v);
        assert_eq!(from_json(json!(30)).unwrap(), Duration::from_secs(30));
        assert_eq!(from_json(json!(1.5)).unwrap(), Duration::from_millis(1500));
        assert_eq!(from_json(json!("2m")).unwrap(), Duration::from_secs(120));
        assert_eq!(
            from_json(json!("500ms")).unwrap(),
            Duration::from_millis(500)
        );
        let err = from_json(json!(-1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`--timeout` must be a number of seconds, 0 or more; got -1"
        );
        assert_eq!(from_json(json!(true)).unwrap_err().exit_code(), 3);
        for (given, want) in [
            (DurationArg::from(60.0), 60),
            (DurationArg::from(60), 60),
            (DurationArg::from("1m"), 60),
            (DurationArg::from(Duration::from_secs(60)), 60),
        ] {
            let resolved: Duration = given.resolve("timeout").unwrap();
            assert_eq!(resolved, Duration::from_secs(want));
        }
        let too_long = DurationArg::from(Duration::MAX).to_duration("timeout");
        assert_eq!(too_long.unwrap_err().exit_code(), 3);
    }

    #[test]
    fn sizes_read_units_and_bytes() {
        let from_json = |v: Value| ByteSize::from_json("x", "size", v);
        assert_eq!(from_json(json!("4G")).unwrap(), ByteSize(4 << 30));
        assert_eq!(from_json(json!(4096)).unwrap(), ByteSize(4096));
        let err = from_json(json!("4 apples")).unwrap_err();
        assert!(
            err.to_string().starts_with("`--size` must be a size"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 3);
        let resolved: ByteSize = ByteSizeArg::from("512M").resolve("size").unwrap();
        assert_eq!(resolved, ByteSize(512 << 20));
        assert!(ByteSizeArg::from(-1).to_byte_size("size").is_err());
    }
}
