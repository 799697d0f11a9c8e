//! A small reader of the qcow2 header and internal snapshot table, so that snapshot
//! operations do not need a separate `qemu-img info` process.
//!
//! The layout follows QEMU's `docs/interop/qcow2.txt`. The file is untrusted input: every
//! offset and size is checked against the file length and QEMU's own limits, so a damaged
//! or hostile image gives an error, never a panic or a huge allocation. Callers fall back to
//! `qemu-img info` on any error, which then reports the problem in QEMU's words.
//!
//! ```no_run
//! # fn main() -> Result<(), maqet_storage::StorageError> {
//! match maqet_storage::qcow2::read_snapshots(std::path::Path::new("disk.qcow2"))? {
//!     Some(snapshots) => println!("{} snapshots", snapshots.len()),
//!     None => println!("not a qcow2 image"),
//! }
//! # Ok(())
//! # }
//! ```

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::{SnapshotInfo, StorageError};

/// The four bytes every qcow image starts with.
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
/// QEMU refuses images with more snapshots than this (`QCOW_MAX_SNAPSHOTS`).
pub const MAX_SNAPSHOTS: u32 = 65_536;
/// QEMU's limit on the snapshot table's size in bytes (`QCOW_MAX_SNAPSHOTS_SIZE`).
const MAX_TABLE_BYTES: u64 = 1024 * MAX_SNAPSHOTS as u64;
/// QEMU's limit on one entry's extra data (`QCOW_MAX_SNAPSHOT_EXTRA_DATA`).
const MAX_EXTRA_DATA: u32 = 1024;
/// Size of QEMU's header structure; its probe needs this many bytes to call a file qcow2.
const HEADER_LEN: usize = 104;
/// Size of the fixed part of a snapshot table entry.
const ENTRY_HEADER: usize = 40;
/// Incompatible feature bits this reader understands (dirty, corrupt, external data file,
/// compression type, extended L2); none of them changes the snapshot table.
const KNOWN_INCOMPATIBLE: u64 = 0b1_1111;

/// Lists the internal snapshots of a qcow2 image by reading the file itself.
///
/// Returns `Ok(None)` when the file is not qcow2 (version 2 or 3), and an error when it cannot
/// be read or its header or table is damaged, encrypted or uses features this reader does not
/// know; the fields match what `qemu-img info` reports for the same image.
pub fn read_snapshots(path: &Path) -> Result<Option<Vec<SnapshotInfo>>, StorageError> {
    let action = "read the qcow2 snapshot table of";
    let fail = |source| StorageError::io(action, path, source);
    let mut file = File::open(path).map_err(fail)?;
    let file_len = file.metadata().map_err(fail)?.len();
    let mut header = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut header)
        .map_err(fail)?;
    let Some(table) = parse_header(&header, file_len).map_err(fail)? else {
        return Ok(None);
    };
    if table.count == 0 {
        return Ok(Some(Vec::new()));
    }
    file.seek(SeekFrom::Start(table.offset)).map_err(fail)?;
    let limit = (file_len - table.offset).min(MAX_TABLE_BYTES);
    let mut reader = BufReader::new(file.take(limit));
    let mut snapshots = Vec::new();
    let mut position = 0;
    for _ in 0..table.count {
        // Entries start on 8-byte boundaries; the last one's padding may be missing.
        let padding = (8 - position % 8) % 8;
        reader.read_exact(&mut [0u8; 8][..padding]).map_err(fail)?;
        let (snapshot, len) = read_entry(&mut reader).map_err(fail)?;
        snapshots.push(snapshot);
        position += padding + len;
    }
    Ok(Some(snapshots))
}

/// Where the snapshot table is and how many entries it has.
#[derive(Debug, PartialEq, Eq)]
struct TableLocation {
    offset: u64,
    count: u32,
}

fn be_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(word)
}

fn be_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(word)
}

fn damaged(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Checks the header (the file's first bytes, up to [`HEADER_LEN`]) and locates the table.
fn parse_header(header: &[u8], file_len: u64) -> io::Result<Option<TableLocation>> {
    // Like QEMU's format probe: shorter files are raw, version 1 is the old `qcow` format,
    // and versions after 3 are left to qemu-img to report.
    if header.len() < HEADER_LEN || header[..4] != MAGIC {
        return Ok(None);
    }
    let version = be_u32(header, 4);
    if version != 2 && version != 3 {
        return Ok(None);
    }
    if be_u32(header, 32) != 0 {
        return Err(damaged("the image is encrypted"));
    }
    if version == 3 {
        if be_u64(header, 72) & !KNOWN_INCOMPATIBLE != 0 {
            return Err(damaged("the image uses unknown incompatible features"));
        }
        if be_u32(header, 100) < HEADER_LEN as u32 {
            return Err(damaged("the qcow2 v3 header length is too small"));
        }
    }
    let cluster_bits = be_u32(header, 20);
    if !(9..=21).contains(&cluster_bits) {
        return Err(damaged("the cluster size is invalid"));
    }
    let count = be_u32(header, 60);
    let offset = be_u64(header, 64);
    if count > MAX_SNAPSHOTS {
        return Err(damaged("the image has more snapshots than QEMU allows"));
    }
    if count == 0 {
        return Ok(Some(TableLocation { offset: 0, count }));
    }
    if !offset.is_multiple_of(1u64 << cluster_bits) {
        return Err(damaged("the snapshot table is not cluster aligned"));
    }
    let minimum = u64::from(count) * ENTRY_HEADER as u64;
    if offset.checked_add(minimum).is_none_or(|end| end > file_len) {
        return Err(damaged(
            "the snapshot table lies beyond the end of the file",
        ));
    }
    Ok(Some(TableLocation { offset, count }))
}

/// Reads one table entry (without its padding); returns it and the bytes it took.
fn read_entry(reader: &mut impl Read) -> io::Result<(SnapshotInfo, usize)> {
    let mut fixed = [0u8; ENTRY_HEADER];
    reader.read_exact(&mut fixed)?;
    let id_len = usize::from(be_u16(&fixed, 12));
    let name_len = usize::from(be_u16(&fixed, 14));
    let date_sec = be_u32(&fixed, 16);
    let vm_clock_nsec = be_u64(&fixed, 24);
    let mut vm_state_size = u64::from(be_u32(&fixed, 32));
    let extra_len = be_u32(&fixed, 36);
    if extra_len > MAX_EXTRA_DATA {
        return Err(damaged("a snapshot entry has too much extra data"));
    }
    // At most 1024 + 2 * 65535 bytes: bounded, and the reader's limit stops a short file.
    let extra_len = extra_len as usize;
    let mut rest = vec![0u8; extra_len + id_len + name_len];
    reader.read_exact(&mut rest)?;
    if extra_len >= 8 {
        vm_state_size = be_u64(&rest, 0);
    }
    let text = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec()).map_err(|_| damaged("a snapshot id or name is not UTF-8"))
    };
    let id = text(&rest[extra_len..extra_len + id_len])?;
    let name = text(&rest[extra_len + id_len..])?;
    let snapshot = SnapshotInfo {
        id,
        name,
        vm_state_size,
        date: iso_date(i64::from(date_sec)),
        vm_clock: vm_clock(vm_clock_nsec / 1_000_000_000, vm_clock_nsec % 1_000_000_000),
    };
    Ok((snapshot, ENTRY_HEADER + rest.len()))
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC), as `qemu-img info` dates are shown.
/// A value outside 1970..=9999 (only a damaged image has one) is shown as the nearest end.
pub(crate) fn iso_date(seconds: i64) -> String {
    const LAST_SECOND_OF_9999: u64 = 253_402_300_799;
    let seconds = u64::try_from(seconds).unwrap_or(0).min(LAST_SECOND_OF_9999);
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Guest clock as `HH:MM:SS.mmm`.
pub(crate) fn vm_clock(seconds: u64, nanos: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60,
        nanos / 1_000_000
    )
}

#[cfg(test)]
#[path = "qcow2_tests.rs"]
mod tests;
