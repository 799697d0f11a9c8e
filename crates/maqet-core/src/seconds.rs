//! Turning a number of seconds from the caller (`--timeout`) into a `Duration`, refusing
//! what no clock can wait for: NaN, infinities, negative numbers, and values so large that
//! adding them to "now" would overflow (`Duration::from_secs_f64` and `Instant + Duration`
//! panic on those).

use std::time::Duration;

use crate::MaqetError;

/// The longest wait accepted: ten years.
pub const MAX_SECONDS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;

/// `value` seconds for option `--<option>`; exit 3 unless `0 <= value <= MAX_SECONDS`.
pub fn seconds(option: &str, value: f64) -> Result<Duration, MaqetError> {
    if !value.is_finite() || value < 0.0 {
        return Err(MaqetError::invalid(format!(
            "`--{option}` must be a number of seconds, 0 or more; got {value}"
        )));
    }
    if value > MAX_SECONDS {
        return Err(MaqetError::invalid(format!(
            "`--{option}` {value} is too large; the most is {MAX_SECONDS} seconds (ten years)"
        )));
    }
    Duration::try_from_secs_f64(value).map_err(|e| {
        MaqetError::with_source(
            crate::ErrorKind::InvalidInput,
            format!("`--{option}` {value} is not a usable number of seconds"),
            e,
        )
    })
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
            let err = seconds("timeout", bad).unwrap_err();
            assert_eq!(err.exit_code(), 3, "{bad}: {err}");
        }
    }
}
