//! Reading the user's seed inputs without being fooled by the file system.
//!
//! An input must be a regular file (a FIFO would block, `/dev/zero` never ends) of at most
//! [`MAX_INPUT_BYTES`]; the check is made on the open file and reading stops one byte past
//! the limit.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Largest `user-data`, `meta-data` or `network-config` file accepted: 8 MiB.
pub const MAX_INPUT_BYTES: u64 = 8 * 1024 * 1024;

/// Reads a regular file of at most [`MAX_INPUT_BYTES`].
pub fn read_input_file(path: &Path) -> std::io::Result<Vec<u8>> {
    // O_NONBLOCK so that opening a FIFO does not wait for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {what}; give a regular file"),
        ));
    }
    // A regular file never blocks, so O_NONBLOCK does not change how it reads.
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is larger than the limit of {MAX_INPUT_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_fifos_are_refused() {
        let err = read_input_file(Path::new("/dev/zero")).unwrap_err();
        assert!(err.to_string().contains("a device"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let err = read_input_file(&fifo).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
    }
}
