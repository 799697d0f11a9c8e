//! The one reader of durations from callers (`--timeout 30`, `1.5`, `2m`, `500ms`): a plain
//! number is seconds, anything else is a `humantime` duration. It refuses what no clock can
//! wait for: NaN, infinities, negative numbers, and values so large that adding them to "now"
//! would overflow (`Duration::from_secs_f64` and `Instant + Duration` panic on those).
//!
//! Built-in commands (through `maqet-core`) and plugins (through [`crate::FromArg`]) both read
//! durations here, so a bad one is refused with the same words whoever declared the parameter.

use std::time::Duration;

/// The longest wait accepted: ten years.
pub const MAX_SECONDS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;

/// A duration a caller gave that no clock can wait for.
#[derive(Debug, thiserror::Error)]
pub enum DurationError {
    /// A negative number, NaN or an infinity.
    #[error("`--{option}` must be a number of seconds, 0 or more; got {value}")]
    Negative {
        /// The option, kebab-case.
        option: String,
        /// The number given.
        value: f64,
    },
    /// More than [`MAX_SECONDS`].
    #[error("`--{option}` {given} is too large; the most is {MAX_SECONDS} seconds (ten years)")]
    TooLarge {
        /// The option, kebab-case.
        option: String,
        /// What was given, as given.
        given: String,
    },
    /// A number `Duration` cannot hold.
    #[error("`--{option}` {value} is not a usable number of seconds")]
    Unusable {
        /// The option, kebab-case.
        option: String,
        /// The number given.
        value: f64,
        /// Why `Duration` refused it.
        #[source]
        source: std::time::TryFromFloatSecsError,
    },
    /// Text that is neither a number nor a duration with units.
    #[error(
        "`--{option}` must be a number of seconds or a duration such as 90s, 2m or 500ms; got `{text}`"
    )]
    NotADuration {
        /// The option, kebab-case.
        option: String,
        /// The text given.
        text: String,
        /// Why `humantime` refused it.
        #[source]
        source: humantime::DurationError,
    },
}

/// `value` seconds for option `--<option>`; refused unless `0 <= value <= MAX_SECONDS`.
pub fn seconds(option: &str, value: f64) -> Result<Duration, DurationError> {
    if !value.is_finite() || value < 0.0 {
        return Err(DurationError::Negative {
            option: option.to_owned(),
            value,
        });
    }
    if value > MAX_SECONDS {
        return Err(DurationError::TooLarge {
            option: option.to_owned(),
            given: value.to_string(),
        });
    }
    Duration::try_from_secs_f64(value).map_err(|source| DurationError::Unusable {
        option: option.to_owned(),
        value,
        source,
    })
}

/// A duration typed for option `--<option>`: a number of seconds (`30`, `1.5`, `1e3`) or a
/// number with units (`2m`, `500ms`, `1h 30m`); refused for anything else or out of range.
pub fn parse_duration(option: &str, text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if let Ok(value) = text.parse::<f64>() {
        return seconds(option, value);
    }
    let duration =
        humantime::parse_duration(text).map_err(|source| DurationError::NotADuration {
            option: option.to_owned(),
            text: text.to_owned(),
            source,
        })?;
    if duration.as_secs_f64() > MAX_SECONDS {
        return Err(DurationError::TooLarge {
            option: option.to_owned(),
            given: text.to_owned(),
        });
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_no_clock_can_wait_for() {
        assert_eq!(
            seconds("timeout", 1.5).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(seconds("timeout", 0.0).unwrap(), Duration::ZERO);
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            1e300,
            -0.5,
        ] {
            assert!(seconds("timeout", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_numbers_are_seconds_and_units_are_read() {
        for (text, want) in [
            ("30", Duration::from_secs(30)),
            (" 1.5 ", Duration::from_millis(1500)),
            ("2m", Duration::from_secs(120)),
            ("500ms", Duration::from_millis(500)),
            ("1h 30m", Duration::from_secs(5400)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(parse_duration("timeout", text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn text_that_is_no_duration_names_the_option() {
        for bad in [
            "soon",
            "-3s",
            "NaN",
            "-1",
            "12 parsecs",
            "",
            "1e300",
            "4000y",
        ] {
            let err = parse_duration("timeout", bad).unwrap_err();
            assert!(err.to_string().contains("`--timeout`"), "{bad}: {err}");
        }
    }
}
