//! `cp HOST VM:/path`: into a guest.
//!
//! Links inside a copied host tree are sent as links (`ln -s` in the guest), never followed, so
//! a link loop or a link to `/` is just a link. FIFOs, sockets and devices are skipped and
//! listed in the report. Each file and directory keeps its host permission bits (masked to
//! `0o777`: no setuid, setgid or sticky bit reaches the guest), set with the guest's `chmod`
//! after the data is written, because qemu-ga creates files with its own umask.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use maqet_qmp::qga::types::{FileWrite, encode_base64};
use serde_json::{Value, json};

use super::transport::GuestLink;
use super::{CHUNK, Copier, base_name, mib_steps, report_mib};
use crate::api::guest::AGENT_CALL_LIMIT;
use crate::{ErrorKind, MaqetError};

/// How many guest paths one `chmod` call changes.
const CHMOD_BATCH: usize = 100;

/// A host tree, listed without following links.
#[derive(Default)]
struct HostTree {
    /// Directories (relative path, permission bits).
    dirs: Vec<(PathBuf, u32)>,
    /// Regular files (relative path, size, permission bits).
    files: Vec<(PathBuf, u64, u32)>,
    /// Links (relative path, the link's target as written).
    links: Vec<(PathBuf, PathBuf)>,
}

fn mode_of(meta: &Metadata) -> u32 {
    meta.permissions().mode() & 0o777
}

fn failure(message: String) -> MaqetError {
    MaqetError::new(ErrorKind::Failure, message)
}

impl Copier<'_> {
    pub(super) fn copy_in(
        &mut self,
        src: &Path,
        dst: &str,
        recursive: bool,
    ) -> Result<(), MaqetError> {
        // SRC itself is the user's own choice: a link given as SRC is followed, like `cp` does.
        let meta = std::fs::metadata(src)
            .map_err(|e| MaqetError::io(format!("cannot read {}", src.display()), e))?;
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let into_dir = dst.ends_with('/') || self.guest_test("-d", dst)?;
        let target = if into_dir {
            format!("{}/{name}", dst.trim_end_matches('/'))
        } else {
            dst.to_owned()
        };
        if meta.is_file() {
            self.file_in(src, &target, meta.len())?;
            return self.chmod_guest(BTreeMap::from([(mode_of(&meta), vec![target])]));
        }
        if !meta.is_dir() {
            return Err(MaqetError::invalid(format!(
                "{} is not a regular file or a directory (a FIFO, socket or device); cp does not copy it",
                src.display()
            )));
        }
        if !recursive {
            return Err(MaqetError::invalid(format!(
                "{} is a directory; copy it with `-r`",
                src.display()
            )));
        }
        let mut tree = HostTree::default();
        self.walk_host(src, Path::new(""), &mut tree)?;
        let guest = |rel: &Path| format!("{target}/{}", rel.display());
        let mut make: Vec<String> = vec!["-p".into(), target.clone()];
        make.extend(tree.dirs.iter().map(|(d, _)| guest(d)));
        let args: Vec<&str> = make.iter().map(String::as_str).collect();
        let (code, _) = self.link.run_helper("mkdir", &args)?;
        if code != 0 {
            return Err(failure(format!(
                "cannot create the directory {target} in the guest (mkdir exited {code})"
            )));
        }
        for (link, pointee) in &tree.links {
            self.link_in(&pointee.to_string_lossy(), &guest(link))?;
        }
        let mut modes: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for (file, len, mode) in &tree.files {
            let path = guest(file);
            self.file_in(&src.join(file), &path, *len)?;
            modes.entry(*mode).or_default().push(path);
        }
        for (dir, mode) in &tree.dirs {
            modes.entry(*mode).or_default().push(guest(dir));
        }
        modes.entry(mode_of(&meta)).or_default().push(target);
        self.chmod_guest(modes)
    }

    /// Lists `root/rel` into `tree` without following links.
    fn walk_host(
        &mut self,
        root: &Path,
        rel: &Path,
        tree: &mut HostTree,
    ) -> Result<(), MaqetError> {
        let dir = root.join(rel);
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| MaqetError::io(format!("cannot list {}", dir.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| MaqetError::io(format!("cannot list {}", dir.display()), e))?;
            let path = rel.join(entry.file_name());
            if entry.file_name().to_str().is_none() {
                // The agent protocol carries paths as JSON text.
                self.skipped.push(root.join(&path).display().to_string());
                continue;
            }
            let meta = std::fs::symlink_metadata(entry.path()).map_err(|e| {
                MaqetError::io(format!("cannot read {}", entry.path().display()), e)
            })?;
            let kind = meta.file_type();
            if kind.is_symlink() {
                let pointee = std::fs::read_link(entry.path()).map_err(|e| {
                    MaqetError::io(
                        format!("cannot read the link {}", entry.path().display()),
                        e,
                    )
                })?;
                tree.links.push((path, pointee));
            } else if kind.is_dir() {
                tree.dirs.push((path.clone(), mode_of(&meta)));
                self.walk_host(root, &path, tree)?;
            } else if kind.is_file() {
                tree.files.push((path, meta.len(), mode_of(&meta)));
            } else {
                self.skipped.push(root.join(&path).display().to_string());
            }
        }
        Ok(())
    }

    /// Makes the guest link `path` pointing at `pointee` (the host link's text, unchanged).
    fn link_in(&mut self, pointee: &str, path: &str) -> Result<(), MaqetError> {
        let flags = if self.force { "-sfn" } else { "-s" };
        if !self.force && (self.guest_test("-L", path)? || self.guest_test("-e", path)?) {
            return Err(MaqetError::DestinationExists {
                path: path.to_string(),
                in_guest: true,
            });
        }
        let (code, _) = self.link.run_helper("ln", &[flags, "--", pointee, path])?;
        if code != 0 {
            return Err(failure(format!(
                "cannot create the link {path} in the guest (ln exited {code})"
            )));
        }
        self.links += 1;
        Ok(())
    }

    /// Sets permission bits in the guest, one `chmod` per mode and batch of paths.
    fn chmod_guest(&mut self, modes: BTreeMap<u32, Vec<String>>) -> Result<(), MaqetError> {
        for (mode, paths) in modes {
            let mode_text = format!("{mode:o}");
            for batch in paths.chunks(CHMOD_BATCH) {
                let mut args = vec![mode_text.as_str()];
                args.extend(batch.iter().map(String::as_str));
                let (code, _) = self.link.run_helper("chmod", &args)?;
                if code != 0 {
                    return Err(failure(format!(
                        "the data was copied, but setting mode {mode_text} on {} in the guest failed (chmod exited {code})",
                        batch.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    fn file_in(&mut self, src: &Path, target: &str, len: u64) -> Result<(), MaqetError> {
        if !self.force && self.guest_test("-e", target)? {
            return Err(MaqetError::DestinationExists {
                path: target.to_string(),
                in_guest: true,
            });
        }
        let mut file = std::fs::File::open(src)
            .map_err(|e| MaqetError::io(format!("cannot open {}", src.display()), e))?;
        let (result, closed) = if matches!(self.link, GuestLink::Ssh(_)) {
            (self.write_over_ssh(&mut file, target, len), Ok(Value::Null))
        } else if matches!(self.link, GuestLink::Channel(_)) {
            (
                self.write_over_channel(&mut file, target, len),
                Ok(Value::Null),
            )
        } else {
            let handle = self.agent()?.call(
                "guest-file-open",
                Some(json!({"path": target, "mode": "w"})),
                AGENT_CALL_LIMIT,
            )?;
            let result = self.write_chunks(&mut file, &handle, src, target, len);
            let closed = self.agent()?.call(
                "guest-file-close",
                Some(json!({"handle": handle})),
                AGENT_CALL_LIMIT,
            );
            (result, closed)
        };
        match (result, closed) {
            (Ok(()), Ok(_)) => {
                self.files += 1;
                Ok(())
            }
            (Err(err), _) | (Ok(()), Err(err)) => Err(MaqetError::with_source(
                err.kind(),
                format!(
                    "copying {} to the guest failed; {target} in the guest is incomplete (remove it with `maqet exec {} -- rm {target}`)",
                    src.display(),
                    self.link.vm()
                ),
                err,
            )),
        }
    }

    /// Streams the open host file to the guest file `target` over SSH.
    fn write_over_ssh(
        &mut self,
        file: &mut std::fs::File,
        target: &str,
        len: u64,
    ) -> Result<(), MaqetError> {
        let maqet = self.maqet;
        let GuestLink::Ssh(ssh) = &mut self.link else {
            return Err(failure(
                "internal error: an SSH write on a copy through the agent".into(),
            ));
        };
        let mut report = mib_steps(maqet, base_name(target), len);
        let mut sent = 0;
        ssh.write_file(target, file, &mut |done| {
            sent = done;
            report(done);
        })?;
        self.bytes += sent;
        Ok(())
    }

    /// Streams the open host file to the guest file `target` through the copy channel.
    fn write_over_channel(
        &mut self,
        file: &mut std::fs::File,
        target: &str,
        len: u64,
    ) -> Result<(), MaqetError> {
        let maqet = self.maqet;
        let GuestLink::Channel(channel) = &mut self.link else {
            return Err(failure(
                "internal error: a channel write on a copy without the channel".into(),
            ));
        };
        let sent = channel.write_file(
            target,
            file,
            len,
            &mut mib_steps(maqet, base_name(target), len),
        )?;
        self.bytes += sent;
        Ok(())
    }

    fn write_chunks(
        &mut self,
        file: &mut std::fs::File,
        handle: &Value,
        src: &Path,
        target: &str,
        len: u64,
    ) -> Result<(), MaqetError> {
        let mut chunk = vec![0u8; CHUNK];
        let mut done = 0u64;
        loop {
            let n = read_full(file, &mut chunk)
                .map_err(|e| MaqetError::io(format!("cannot read {}", src.display()), e))?;
            if n == 0 {
                return Ok(());
            }
            let wrote: FileWrite = self.agent()?.call_as(
                "guest-file-write",
                Some(json!({"handle": handle, "buf-b64": encode_base64(&chunk[..n])})),
                AGENT_CALL_LIMIT,
            )?;
            if wrote.count != n as u64 {
                return Err(failure(format!(
                    "the guest agent wrote {} of {n} bytes to {target}",
                    wrote.count
                )));
            }
            done += n as u64;
            self.bytes += n as u64;
            report_mib(self.maqet, base_name(target), done, len);
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
