//! How long a download may wait: for the connection, and for its next bytes.
//!
//! A server that accepts the connection (or sends its headers) and then goes quiet would
//! otherwise hold `maqet image pull` and `maqet start` forever. The stall limit restarts with
//! every read, so a slow but moving download is never cut off. It is
//! [`DEFAULT_STALL_TIMEOUT`], or the duration in `$MAQET_DOWNLOAD_STALL_TIMEOUT` (`30s`,
//! `2m`, or plain seconds), or what [`super::ImageCache::with_stall_timeout`] sets.

use std::time::Duration;

use super::{ImageCache, ImageError};

/// Longest wait for a TCP connection (and TLS handshake) to a download server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a download may receive nothing before it is given up.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Environment variable overriding [`DEFAULT_STALL_TIMEOUT`].
pub const STALL_TIMEOUT_ENV: &str = "MAQET_DOWNLOAD_STALL_TIMEOUT";

impl ImageCache {
    /// The same cache, giving a download up after `stall` without a byte (instead of
    /// `$MAQET_DOWNLOAD_STALL_TIMEOUT` or [`DEFAULT_STALL_TIMEOUT`]).
    pub fn with_stall_timeout(mut self, stall: Duration) -> Self {
        self.stall_timeout = Some(stall);
        self
    }

    /// How long a download may receive nothing.
    pub fn stall_timeout(&self) -> Result<Duration, ImageError> {
        match self.stall_timeout {
            Some(stall) => Ok(stall),
            None => stall_timeout_from_env(),
        }
    }
}

/// Reads a stall limit: a duration such as `30s` or `2m`, or a number of seconds; above zero.
pub fn parse_stall_timeout(text: &str) -> Result<Duration, ImageError> {
    let trimmed = text.trim();
    let parsed = match trimmed.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(trimmed).ok(),
    };
    parsed
        .filter(|d| !d.is_zero())
        .ok_or_else(|| ImageError::InvalidStallTimeout {
            value: text.to_owned(),
        })
}

/// The stall limit from [`STALL_TIMEOUT_ENV`], else [`DEFAULT_STALL_TIMEOUT`].
fn stall_timeout_from_env() -> Result<Duration, ImageError> {
    match std::env::var(STALL_TIMEOUT_ENV) {
        Ok(value) if !value.trim().is_empty() => parse_stall_timeout(&value),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(DEFAULT_STALL_TIMEOUT),
        Err(std::env::VarError::NotUnicode(value)) => Err(ImageError::InvalidStallTimeout {
            value: value.to_string_lossy().into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_limits_are_durations_or_seconds_above_zero() {
        assert_eq!(
            parse_stall_timeout("45").ok(),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            parse_stall_timeout(" 2m ").ok(),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_stall_timeout("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        for bad in ["0", "0s", "soon", "-3", ""] {
            assert!(
                matches!(
                    parse_stall_timeout(bad),
                    Err(ImageError::InvalidStallTimeout { .. })
                ),
                "{bad:?} was accepted"
            );
        }
    }
}
