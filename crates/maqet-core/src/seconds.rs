//! Durations from callers (`--timeout 30`, `1.5`, `2m`, `500ms`), read by the one reader in
//! `maqet_command::duration` (plugins use it too), with its refusals as [`MaqetError`]s.

use std::time::Duration;

use crate::MaqetError;

/// `value` seconds for option `--<option>`; exit 3 unless `0 <= value <=`
/// `maqet_command::duration::MAX_SECONDS`.
pub fn seconds(option: &str, value: f64) -> Result<Duration, MaqetError> {
    Ok(maqet_command::duration::seconds(option, value)?)
}

/// A duration typed for option `--<option>`: a number of seconds (`30`, `1.5`, `1e3`) or a
/// number with units (`2m`, `500ms`, `1h 30m`); exit 3 for anything else or out of range.
pub fn parse_duration(option: &str, text: &str) -> Result<Duration, MaqetError> {
    Ok(maqet_command::duration::parse_duration(option, text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_invalid_input_naming_the_option() {
        assert_eq!(
            seconds("timeout", 1.5).unwrap(),
            Duration::from_millis(1500)
        );
        for bad in [f64::NAN, -1.0, 1e300] {
            let err = seconds("timeout", bad).unwrap_err();
            assert_eq!(err.exit_code(), 3, "{bad}: {err}");
        }
        for bad in ["soon", "-3s", "4000y"] {
            let err = parse_duration("timeout", bad).unwrap_err();
            assert_eq!(err.exit_code(), 3, "{bad}: {err}");
            assert!(err.to_string().contains("`--timeout`"), "{bad}: {err}");
        }
    }
}
