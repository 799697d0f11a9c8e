//! Keeping `events.jsonl` and `serial.log` to a bounded size: one previous generation
//! (`<file>.1`) is kept, older text is dropped.
//!
//! `events.jsonl` is written only by the runner, so it is renamed aside. `serial.log` is held
//! open by QEMU (chardev `logfile`, opened with `logappend=on` so that writes go to the end):
//! it is copied aside and truncated in place, and QEMU's next write lands at offset 0. At
//! launch, the previous boot's serial log is renamed aside so every boot starts a fresh file.
//!
//! The limit is [`DEFAULT_MAX_LOG_BYTES`], or `MAQET_MAX_LOG_BYTES` from the environment.

use std::io;
use std::path::{Path, PathBuf};

/// Size above which a log is rotated: 16 MiB.
pub const DEFAULT_MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;
/// Environment variable overriding [`DEFAULT_MAX_LOG_BYTES`] (bytes, at least 1).
pub const MAX_LOG_BYTES_ENV: &str = "MAQET_MAX_LOG_BYTES";

/// The rotation limit in bytes.
pub fn max_log_bytes() -> u64 {
    std::env::var(MAX_LOG_BYTES_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_LOG_BYTES)
}

/// `<file>.1`.
pub fn previous(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn size(path: &Path) -> io::Result<Option<u64>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta.len())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Renames `path` to `<path>.1` (replacing it) when it is larger than `limit` bytes.
/// Returns whether it did. For files only this process writes.
pub fn rename_if_larger(path: &Path, limit: u64) -> io::Result<bool> {
    match size(path)? {
        Some(len) if len > limit => std::fs::rename(path, previous(path)).map(|()| true),
        _ => Ok(false),
    }
}

/// Renames a non-empty `path` to `<path>.1` (replacing it); for a file about to be reopened.
pub fn keep_previous(path: &Path) -> io::Result<()> {
    match size(path)? {
        Some(len) if len > 0 => std::fs::rename(path, previous(path)),
        _ => Ok(()),
    }
}

/// Copies `path` to `<path>.1` and truncates it when it is larger than `limit` bytes; for a
/// file another process holds open in append mode. Returns whether it did.
pub fn copy_truncate_if_larger(path: &Path, limit: u64) -> io::Result<bool> {
    match size(path)? {
        Some(len) if len > limit => {
            let aside = previous(path);
            let _ = std::fs::remove_file(&aside);
            std::fs::copy(path, &aside)?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)?
                .set_len(0)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_only_above_the_limit_and_keeps_one_generation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("events.jsonl");
        std::fs::write(&log, "0123456789").unwrap();
        assert!(!rename_if_larger(&log, 10).unwrap());
        assert!(rename_if_larger(&log, 9).unwrap());
        assert!(!log.exists());
        assert_eq!(std::fs::read(previous(&log)).unwrap(), b"0123456789");
        assert!(
            !rename_if_larger(&log, 0).unwrap(),
            "a missing file is left alone"
        );

        let serial = dir.path().join("serial.log");
        std::fs::write(&serial, "abcdef").unwrap();
        assert!(copy_truncate_if_larger(&serial, 3).unwrap());
        assert_eq!(std::fs::read(&serial).unwrap(), b"");
        assert_eq!(std::fs::read(previous(&serial)).unwrap(), b"abcdef");
    }
}
