//! Reading a file that must be a regular file of bounded size, checked on the open file.
//!
//! A path can name a FIFO (opening it blocks until a writer comes), a device such as
//! `/dev/zero` (endless), or a file that grows while it is read. So the file is opened without
//! blocking and without following it to a terminal, checked with `fstat` on the open
//! descriptor (not the path, which could be swapped afterwards), and read through a limit:
//! at most `limit + 1` bytes are ever read, never the whole file first.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum BoundedReadError {
    /// Opening or reading failed.
    Io(std::io::Error),
    /// It is not a regular file; the text says what it is ("a FIFO", "a directory", ...).
    NotRegular(&'static str),
    /// It holds more than the limit (at least `limit + 1` bytes were there).
    TooLarge,
}

/// Reads the regular file at `path`, refusing anything else and anything over `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(BoundedReadError::Io)?;
    let kind = file.metadata().map_err(BoundedReadError::Io)?.file_type();
    if !kind.is_file() {
        return Err(BoundedReadError::NotRegular(describe(kind)));
    }
    clear_nonblock(&file).map_err(BoundedReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(BoundedReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge);
    }
    Ok(bytes)
}

fn clear_nonblock(file: &File) -> std::io::Result<()> {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let flags = fcntl_getfl(file)?;
    fcntl_setfl(file, flags - OFlags::NONBLOCK)?;
    Ok(())
}

fn describe(kind: std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_and_oversized_files() {
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), 10),
            Err(BoundedReadError::NotRegular("a character device"))
        ));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        std::fs::write(&file, "12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        assert!(matches!(
            read_regular(&file, 4),
            Err(BoundedReadError::TooLarge)
        ));
        assert!(matches!(
            read_regular(dir.path(), 4),
            Err(BoundedReadError::NotRegular("a directory"))
        ));
    }
}
