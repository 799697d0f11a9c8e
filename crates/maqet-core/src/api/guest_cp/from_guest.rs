//! `cp VM:/path HOST`: out of a guest that is not trusted.
//!
//! The guest's answers decide only bytes and permission bits inside the destination, never
//! where on the host something is written: names come from a NUL-separated `find` listing
//! checked by [`super::listing`], files are created through [`super::host_dir`] handles, and
//! every file stops at the size `stat` reported before the copy and at `--max-bytes`.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

use maqet_qmp::qga::types::{FileRead, decode_base64};
use serde_json::{Value, json};

use super::host_dir::{HostDir, Partial};
use super::journal::CopyJournal;
use super::listing::{
    GuestStat, STAT_FORMAT, listing_root, parse_stats, relative_components, split_nul,
};
use super::transport::GuestLink;
use super::{CHUNK, Copier, base_name, report_mib};
use crate::api::guest::AGENT_CALL_LIMIT;
use crate::text::escape_guest_text;
use crate::{ErrorKind, MaqetError};

/// How many guest files one `stat` call describes.
const STAT_BATCH: usize = 100;

/// A guest file to copy: its guest path and where it goes below the destination.
struct Entry {
    guest_path: String,
    components: Vec<OsString>,
}

fn failure(message: String) -> MaqetError {
    MaqetError::new(ErrorKind::Failure, message)
}

impl Copier<'_> {
    /// Whether `test FLAG PATH` succeeds in the guest.
    pub(super) fn guest_test(&mut self, flag: &str, path: &str) -> Result<bool, MaqetError> {
        Ok(self.link.run_helper("test", &[flag, path])?.0 == 0)
    }

    pub(super) fn copy_out(
        &mut self,
        src: &str,
        dst: &Path,
        recursive: bool,
        journal: &CopyJournal,
    ) -> Result<(), MaqetError> {
        let (parent, name) = host_target(src, dst)?;
        let dir = HostDir::open(&parent)?;
        self.sweep(&dir);
        if !self.guest_test("-d", src)? {
            let stat = self.stat_guest(&[src.to_owned()])?[0];
            if !stat.regular {
                return Err(MaqetError::invalid(format!(
                    "{} is not a regular file in the guest (a device, FIFO or socket); cp copies regular files and directories — `maqet exec VM -- cat {0} > FILE` reads it",
                    escape_guest_text(src)
                )));
            }
            return self.file_out(src, stat, &dir, &name, journal);
        }
        if !recursive {
            return Err(MaqetError::invalid(format!(
                "{src} is a directory in the guest; copy it with `-r`"
            )));
        }
        let top = dir.subdir(&name)?;
        self.sweep(&top);
        for entry in self.list(src, "d")? {
            self.open_below(&top, &entry.components)?;
        }
        let files = self.list(src, "f")?;
        let mut stats = Vec::with_capacity(files.len());
        for batch in files.chunks(STAT_BATCH) {
            let paths: Vec<String> = batch.iter().map(|e| e.guest_path.clone()).collect();
            stats.extend(self.stat_guest(&paths)?);
        }
        for (entry, stat) in files.iter().zip(stats) {
            let Some((file_name, parents)) = entry.components.split_last() else {
                continue;
            };
            if !stat.regular {
                return Err(failure(format!(
                    "the guest's `find` listed {} as a regular file, but its `stat` says it is not; nothing more was copied",
                    escape_guest_text(&entry.guest_path)
                )));
            }
            let parent = self.open_below(&top, parents)?;
            let parent = parent.as_ref().unwrap_or(&top);
            self.file_out(&entry.guest_path, stat, parent, file_name, journal)?;
        }
        Ok(())
    }

    /// Removes stale partial files of killed copies from `dir`, noting them in the report.
    fn sweep(&mut self, dir: &HostDir) {
        for name in dir.sweep_stale_partials(true) {
            self.removed_stale_partials.push(escape_guest_text(
                &dir.path.join(name).display().to_string(),
            ));
        }
    }

    /// Opens (creating as needed) the directory `components` below `top`, never through a
    /// link; `None` for `top` itself.
    fn open_below(
        &mut self,
        top: &HostDir,
        components: &[OsString],
    ) -> Result<Option<HostDir>, MaqetError> {
        let mut current: Option<HostDir> = None;
        for component in components {
            let next = current.as_ref().unwrap_or(top).subdir(component)?;
            current = Some(next);
        }
        Ok(current)
    }

    /// The guest's NUL-separated listing of the directories (`d`) or files (`f`) under `root`,
    /// every entry checked.
    fn list(&mut self, root: &str, kind: &str) -> Result<Vec<Entry>, MaqetError> {
        let prefix = listing_root(root);
        let start = if prefix.is_empty() { "/" } else { prefix };
        let (code, out) = self
            .link
            .run_helper("find", &[start, "-mindepth", "1", "-type", kind, "-print0"])?;
        if code != 0 {
            return Err(failure(format!(
                "cannot list {root} in the guest (find exited {code})"
            )));
        }
        let mut entries = Vec::new();
        for raw in split_nul(&out) {
            let components = relative_components(root, raw).map_err(|bad| {
                MaqetError::with_source(
                    ErrorKind::Failure,
                    format!(
                        "refusing the guest's listing of {root}: nothing was written outside the destination; the guest's `find` (or the guest) is not to be trusted"
                    ),
                    bad,
                )
            })?;
            let Ok(guest_path) = std::str::from_utf8(raw) else {
                // The agent protocol carries paths as JSON text: such a file cannot be opened.
                self.skipped.push(crate::text::escape_guest_bytes(raw));
                continue;
            };
            entries.push(Entry {
                guest_path: guest_path.to_owned(),
                components: components.into_iter().map(OsStr::to_os_string).collect(),
            });
        }
        Ok(entries)
    }

    /// Sizes and permission bits of guest files, from the guest's `stat`.
    fn stat_guest(&mut self, paths: &[String]) -> Result<Vec<GuestStat>, MaqetError> {
        let mut args = vec!["-L", "-c", STAT_FORMAT];
        args.extend(paths.iter().map(String::as_str));
        let (code, out) = self.link.run_helper("stat", &args)?;
        if code != 0 {
            let what = match paths {
                [one] => escape_guest_text(one),
                _ => format!("{} files", paths.len()),
            };
            return Err(failure(format!(
                "cannot read {what} in the guest (`stat` exited {code}); check that it exists"
            )));
        }
        parse_stats(&out, paths.len()).map_err(failure)
    }

    fn file_out(
        &mut self,
        src: &str,
        stat: GuestStat,
        dir: &HostDir,
        name: &OsStr,
        journal: &CopyJournal,
    ) -> Result<(), MaqetError> {
        let shown = dir.path.join(name);
        if !self.force && dir.has(name) {
            return Err(MaqetError::DestinationExists {
                path: shown.display().to_string(),
                in_guest: false,
            });
        }
        let left = self.max_bytes.map(|max| max.saturating_sub(self.bytes));
        if let Some(left) = left.filter(|&left| stat.size > left) {
            return Err(failure(format!(
                "{} is {} bytes in the guest, more than the {left} bytes `--max-bytes` still allows; nothing was written",
                escape_guest_text(src),
                stat.size
            )));
        }
        if let Some(free) = dir.available_bytes().filter(|&free| stat.size > free) {
            return Err(failure(format!(
                "{} is {} bytes in the guest, but the file system of {} has only {free} bytes free; nothing was written",
                escape_guest_text(src),
                stat.size,
                dir.path.display()
            )));
        }
        let note = || journal.note(&dir.path);
        let partial = if matches!(self.link, GuestLink::Ssh(_) | GuestLink::Channel(_)) {
            let mut partial = dir.create_partial(name, stat.mode, &note)?;
            self.read_streamed(src, &mut partial, stat.size)
                .map(|()| partial)
        } else {
            self.read_over_agent(src, stat, dir, name, &note)
        };
        partial?.commit(name, self.force)?;
        self.files += 1;
        Ok(())
    }

    /// Copies the guest file `src` into a new partial file for `name` in `dir`, through the
    /// agent.
    fn read_over_agent<'d>(
        &mut self,
        src: &str,
        stat: GuestStat,
        dir: &'d HostDir,
        name: &OsStr,
        note: &dyn Fn(),
    ) -> Result<Partial<'d>, MaqetError> {
        let handle = self.agent()?.call(
            "guest-file-open",
            Some(json!({"path": src, "mode": "r"})),
            AGENT_CALL_LIMIT,
        )?;
        let result = dir
            .create_partial(name, stat.mode, note)
            .and_then(|mut partial| {
                self.read_chunks(&handle, src, &mut partial, stat.size)
                    .map(|()| partial)
            });
        drop(self.agent()?.call(
            "guest-file-close",
            Some(json!({"handle": handle})),
            AGENT_CALL_LIMIT,
        ));
        result
    }

    /// Streams the guest file `src` into `partial` over SSH or through the copy channel,
    /// refusing more than `limit` bytes (the size the guest reported).
    fn read_streamed(
        &mut self,
        src: &str,
        partial: &mut Partial<'_>,
        limit: u64,
    ) -> Result<(), MaqetError> {
        let shown = escape_guest_text(src);
        let short = escape_guest_text(base_name(src));
        let maqet = self.maqet;
        let bytes = &mut self.bytes;
        let mut done = 0u64;
        let mut sink = |chunk: &[u8]| {
            let n = chunk.len() as u64;
            let total = done.saturating_add(n);
            if total > limit {
                return Err(grew_beyond(&shown, limit));
            }
            partial.file.write_all(chunk).map_err(|e| {
                MaqetError::io(format!("cannot write {}", partial.path().display()), e)
            })?;
            if total / CHUNK as u64 != done / CHUNK as u64 {
                report_mib(maqet, &short, total, limit);
            }
            done = total;
            *bytes += n;
            Ok(())
        };
        match &mut self.link {
            GuestLink::Ssh(ssh) => ssh.read_file(src, &mut sink),
            GuestLink::Channel(channel) => channel.read_file(src, limit, &mut sink),
            GuestLink::Agent(_) => Err(failure(
                "internal error: a streamed read on a copy through the agent".into(),
            )),
        }
    }

    /// Reads the open guest file into `partial`, refusing more than `limit` bytes (the size
    /// the guest reported) or replies that do not add up.
    fn read_chunks(
        &mut self,
        handle: &Value,
        src: &str,
        partial: &mut Partial<'_>,
        limit: u64,
    ) -> Result<(), MaqetError> {
        let shown = escape_guest_text(src);
        let mut done = 0u64;
        loop {
            let read: FileRead = self.agent()?.call_as(
                "guest-file-read",
                Some(json!({"handle": handle, "count": CHUNK})),
                AGENT_CALL_LIMIT,
            )?;
            let bytes = decode_base64(&read.buf_b64).map_err(|e| {
                MaqetError::with_source(
                    ErrorKind::Failure,
                    format!("the guest agent sent {shown} as invalid base64"),
                    e,
                )
            })?;
            let n = bytes.len() as u64;
            if bytes.len() > CHUNK || read.count != n {
                return Err(failure(format!(
                    "the guest agent answered a read of {shown} with {n} bytes (it said {}, at most {CHUNK} were asked for); the copy was removed",
                    read.count
                )));
            }
            let total = done.saturating_add(n);
            if total > limit {
                return Err(grew_beyond(&shown, limit));
            }
            partial.file.write_all(&bytes).map_err(|e| {
                MaqetError::io(format!("cannot write {}", partial.path().display()), e)
            })?;
            done = total;
            self.bytes += n;
            report_mib(self.maqet, &escape_guest_text(base_name(src)), done, limit);
            if read.eof || bytes.is_empty() {
                return Ok(());
            }
        }
    }
}

/// The error for a guest file that sent more than the `limit` bytes it reported.
fn grew_beyond(shown: &str, limit: u64) -> MaqetError {
    failure(format!(
        "{shown} grew beyond the {limit} bytes the guest reported before the copy (a device, a pipe, or a file still being written?); the copy was removed — copy it with `maqet exec VM -- cat {shown} > FILE` if that is intended"
    ))
}

/// The host directory and the name a copy of guest `src` gets for the destination `dst`.
fn host_target(src: &str, dst: &Path) -> Result<(PathBuf, OsString), MaqetError> {
    let (parent, name) = if dst.is_dir() {
        (dst.to_path_buf(), OsString::from(base_name(src)))
    } else {
        let parent = match dst.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        (
            parent,
            dst.file_name().map(OsStr::to_os_string).unwrap_or_default(),
        )
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(MaqetError::invalid(format!(
            "give the destination a name: `{}` names no file (e.g. `maqet cp VM:/ ./guest-root`)",
            dst.display()
        )));
    }
    Ok((parent, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_name_a_directory_and_one_component() {
        let tmp = tempfile::tempdir().unwrap();
        let (parent, name) = host_target("/etc/hostname", tmp.path()).unwrap();
        assert_eq!(
            (parent.as_path(), name.as_os_str()),
            (tmp.path(), OsStr::new("hostname"))
        );
        let (parent, name) = host_target("/x", Path::new("copy")).unwrap();
        assert_eq!((parent, name), (PathBuf::from("."), OsString::from("copy")));
        assert!(host_target("/", tmp.path()).is_err());
        assert!(host_target("/x", Path::new("a/..")).is_err());
    }
}
