//! The runner's log: timestamped lines on stderr, which is `runner.log`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes one timestamped line to the runner log.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::supervisor::log::write_line(&format!($($arg)*))
    };
}
pub(crate) use log;

/// Writes `text` (one line per line of text) with a UTC timestamp; errors are ignored, as a
/// runner must keep supervising even when its log is on a full disk.
pub fn write_line(text: &str) {
    let stamp = utc_timestamp(SystemTime::now());
    let mut out = std::io::stderr().lock();
    for line in text.lines() {
        drop(writeln!(out, "{stamp} {line}"));
    }
}

/// `SystemTime` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc_timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |secs| utc_timestamp(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_735_689_599), "2024-12-31T23:59:59.000Z");
    }
}
