//! Reading what the guest says about its files, as hostile data.
//!
//! A guest's `find` and `stat` are programs the guest controls: their output may name
//! `ROOT/../../home/you/.bashrc`, an absolute path, or anything else. Listings are
//! NUL-separated (`find -print0`), so a name with a newline stays one name, and every entry is
//! checked here before the host creates anything: it must lie strictly under the root that was
//! asked for, and every component must be a plain name (not empty, `.` or `..`, no NUL).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::text::escape_guest_bytes;

/// Why a guest listing entry was refused; the message names the entry (escaped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the guest listed `{entry}`, {reason}")]
pub struct BadEntry {
    /// The entry as the guest sent it, with control characters escaped.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The guest directory `root` as the prefix its listing entries start with: no trailing
/// slashes, so `/srv/` gives `/srv` and `/` gives the empty prefix.
pub fn listing_root(root: &str) -> &str {
    root.trim_end_matches('/')
}

/// Checks one entry of a listing of `root` and returns its path components below `root`.
pub fn relative_components<'a>(root: &str, entry: &'a [u8]) -> Result<Vec<&'a OsStr>, BadEntry> {
    let bad = |reason| BadEntry {
        entry: escape_guest_bytes(entry),
        reason,
    };
    let rest = entry
        .strip_prefix(listing_root(root).as_bytes())
        .and_then(|r| r.strip_prefix(b"/"))
        .ok_or_else(|| bad("which is not inside the directory that was asked for"))?;
    if rest.is_empty() {
        return Err(bad("which is the directory itself, not an entry in it"));
    }
    let mut components = Vec::new();
    for part in rest.split(|&b| b == b'/') {
        match part {
            b"" => return Err(bad("which has an empty path component (`//`)")),
            b"." | b".." => return Err(bad("which has a `.` or `..` component")),
            p if p.contains(&0) => return Err(bad("which contains a NUL byte")),
            p => components.push(OsStr::from_bytes(p)),
        }
    }
    Ok(components)
}

/// Splits a `find -print0` listing into its entries (the last may lack its NUL).
pub fn split_nul(listing: &[u8]) -> impl Iterator<Item = &[u8]> {
    listing
        .strip_suffix(b"\0")
        .unwrap_or(listing)
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
}

/// The `stat -c` format maqet asks for: size in bytes and the raw mode in hex (type + bits).
pub const STAT_FORMAT: &str = "%s %f";

/// What `stat -L -c '%s %f'` says about one guest file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestStat {
    /// The size in bytes the guest reported.
    pub size: u64,
    /// The permission bits, masked to `0o777`: a guest never sets setuid, setgid or sticky
    /// bits on the host.
    pub mode: u32,
    /// Whether it is a regular file (not a device, FIFO, socket or directory).
    pub regular: bool,
}

/// Parses `stat -L -c '%s %f'` output: exactly one `SIZE RAWMODE` line per file asked about.
pub fn parse_stats(output: &[u8], files: usize) -> Result<Vec<GuestStat>, String> {
    let text = std::str::from_utf8(output)
        .map_err(|_| "the guest's `stat` printed bytes that are not text".to_owned())?;
    let stats = text
        .lines()
        .map(|line| {
            let bad = || {
                format!(
                    "the guest's `stat` printed `{}`",
                    escape_guest_bytes(line.as_bytes())
                )
            };
            let (size, mode) = line.trim().split_once(' ').ok_or_else(bad)?;
            let size = size.parse::<u64>().map_err(|_| bad())?;
            let raw = u32::from_str_radix(mode, 16).map_err(|_| bad())?;
            Ok(GuestStat {
                size,
                mode: raw & 0o777,
                regular: raw & 0o170_000 == 0o100_000,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if stats.len() != files {
        return Err(format!(
            "the guest's `stat` described {} file(s) where {files} were asked about",
            stats.len()
        ));
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(root: &str, entry: &[u8]) -> Result<Vec<String>, BadEntry> {
        relative_components(root, entry)
            .map(|v| v.iter().map(|p| p.to_string_lossy().into_owned()).collect())
    }

    #[test]
    fn entries_under_the_root_become_components() {
        assert_eq!(parts("/srv/", b"/srv/a/b").unwrap(), ["a", "b"]);
        assert_eq!(parts("/", b"/etc/hostname").unwrap(), ["etc", "hostname"]);
        assert_eq!(parts("/d", b"/d/new\nline").unwrap(), ["new\nline"]);
    }

    #[test]
    fn hostile_entries_are_refused_by_name() {
        for (entry, reason) in [
            (&b"/srv/../../etc/passwd"[..], "`..`"),
            (b"/srv/a/./b", "`..`"),
            (b"/etc/passwd", "not inside"),
            (b"/srvx/a", "not inside"),
            (b"../x", "not inside"),
            (b"/srv", "not inside"),
            (b"/srv/", "the directory itself"),
            (b"/srv//a", "empty"),
            (b"/srv/a/", "empty"),
            (b"/srv/a\0b", "NUL"),
        ] {
            let err = parts("/srv", entry).unwrap_err();
            assert!(err.to_string().contains(reason), "{err} for {entry:?}");
        }
        let err = parts("/srv", b"/srv/../\x1b[2J").unwrap_err();
        assert!(err.to_string().contains("\\u{1b}[2J"), "{err}");
    }

    #[test]
    fn nul_listings_keep_newlines_inside_names() {
        let entries: Vec<&[u8]> = split_nul(b"/d/a\0/d/b\nc\0").collect();
        assert_eq!(entries, [&b"/d/a"[..], b"/d/b\nc"]);
        assert_eq!(split_nul(b"").count(), 0);
    }

    #[test]
    fn stat_output_is_checked_and_modes_masked() {
        // 81a0: a regular file, 0640; 89ed: regular, setuid 0755; 21b6: a character device.
        let stats = parse_stats(b"12 81a0\n0 89ed\n0 21b6\n", 3).unwrap();
        assert_eq!(
            stats[0],
            GuestStat {
                size: 12,
                mode: 0o640,
                regular: true
            }
        );
        assert_eq!((stats[1].mode, stats[1].regular), (0o755, true));
        assert!(!stats[2].regular);
        assert!(parse_stats(b"12 81a0\n", 2).is_err());
        assert!(parse_stats(b"-1 81a0\n", 1).is_err());
        assert!(parse_stats(b"99999999999999999999999 81a0\n", 1).is_err());
        assert!(parse_stats(b"1 81a0x\n", 1).is_err());
        assert!(parse_stats(b"1 81a0 extra\n", 1).is_err());
    }
}
