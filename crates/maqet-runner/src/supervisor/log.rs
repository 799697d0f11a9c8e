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

/// `SystemTime` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (a clock set outside 1970..=9999 shows the
/// nearest end).
pub fn utc_timestamp(time: SystemTime) -> String {
    let last = UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799);
    humantime::format_rfc3339_millis(time.clamp(UNIX_EPOCH, last)).to_string()
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
