//! `cp`: files and directories between the host and a guest, through the guest agent.
//!
//! Data moves in chunks of at most 1 MiB (`guest-file-read`/`guest-file-write`, base64), so
//! any size works and the bytes are copied exactly. A host destination is written to a
//! temporary file next to it and renamed at the end, so a failed copy leaves nothing behind; a
//! guest destination cannot be made atomic and is reported when a copy fails half-way.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use maqet_macros::{api_method, api_requests};
use maqet_qmp::qga::types::{FileRead, FileWrite, decode_base64, encode_base64};
use serde::Serialize;
use serde_json::{Value, json};

use super::guest::{AGENT_CALL_LIMIT, GuestAgent};
use crate::registry::CommandOutput;
use crate::{ErrorKind, Maqet, MaqetError};

/// The largest chunk one agent call carries.
pub const CHUNK: usize = 1024 * 1024;

/// `cp`: what was copied.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// `to-guest` or `from-guest`.
    pub direction: &'static str,
    /// Files copied.
    pub files: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// The destination as given.
    pub destination: String,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u64,
}

impl CommandOutput for CopyReport {
    fn human(&self) -> Option<String> {
        Some(format!(
            "copied {} file{} ({} bytes) to {}",
            self.files,
            if self.files == 1 { "" } else { "s" },
            self.bytes,
            self.destination
        ))
    }
}

/// `VM:/path` split into the VM and the guest path; `None` for a host path.
fn guest_side(text: &str) -> Option<(&str, &str)> {
    let (vm, path) = text.split_once(':')?;
    (!vm.is_empty() && !vm.contains('/') && path.starts_with('/')).then_some((vm, path))
}

/// The last path component of a guest or host path.
fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

struct Copier<'a> {
    maqet: &'a Maqet,
    agent: GuestAgent,
    force: bool,
    files: u64,
    bytes: u64,
}

#[api_requests]
impl Maqet {
    /// Copy a file or directory between the host and a guest through its agent.
    ///
    /// Exactly one of SRC and DST is `VM:/guest/path`. Binary-safe, any size (1 MiB per agent
    /// call), with progress on a terminal. An existing destination file is only replaced with
    /// `--force`; directories need `-r`. A failed copy to the host leaves no partial file; a
    /// failed copy to the guest names the incomplete guest file.
    #[api_method(
        category = "guest",
        examples = [
            "maqet cp ./app.tar.gz web:/tmp/app.tar.gz",
            "maqet cp web:/var/log/messages ./messages",
            "maqet cp -r ./site web:/srv/",
            "maqet cp --force ./config web:/etc/app.conf"
        ]
    )]
    pub fn cp(
        &self,
        #[arg(positional, help = "Source: a host path or VM:/guest/path")] src: String,
        #[arg(positional, help = "Destination: a host path or VM:/guest/path")] dst: String,
        #[arg(short = 'r', help = "Copy directories and their contents")] recursive: bool,
        #[arg(help = "Replace existing destination files")] force: bool,
    ) -> Result<CopyReport, MaqetError> {
        let started = Instant::now();
        let (vm, direction) = match (guest_side(&src), guest_side(&dst)) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(MaqetError::invalid(
                    "exactly one of SRC and DST must be a guest path, written VM:/path",
                ));
            }
            (Some((vm, _)), None) => (vm, "from-guest"),
            (None, Some((vm, _))) => (vm, "to-guest"),
        };
        let (_, agent) = self.guest_agent(vm)?;
        let mut copier = Copier {
            maqet: self,
            agent,
            force,
            files: 0,
            bytes: 0,
        };
        match (guest_side(&src), guest_side(&dst)) {
            (None, Some((_, guest))) => copier.copy_in(Path::new(&src), guest, recursive)?,
            (Some((_, guest)), None) => copier.copy_out(guest, Path::new(&dst), recursive)?,
            _ => {}
        }
        Ok(CopyReport {
            direction,
            files: copier.files,
            bytes: copier.bytes,
            destination: dst,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }
}

impl Copier<'_> {
    fn guest_test(&mut self, flag: &str, path: &str) -> Result<bool, MaqetError> {
        Ok(self.agent.run_helper("test", &[flag, path])?.0 == 0)
    }

    fn copy_in(&mut self, src: &Path, dst: &str, recursive: bool) -> Result<(), MaqetError> {
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
        if !meta.is_dir() {
            return self.file_in(src, &target, meta.len());
        }
        if !recursive {
            return Err(MaqetError::invalid(format!(
                "{} is a directory; copy it with `-r`",
                src.display()
            )));
        }
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        walk_host(src, Path::new(""), &mut dirs, &mut files)?;
        let mut make: Vec<String> = vec!["-p".into(), target.clone()];
        make.extend(dirs.iter().map(|d| format!("{target}/{}", d.display())));
        let args: Vec<&str> = make.iter().map(String::as_str).collect();
        let (code, _) = self.agent.run_helper("mkdir", &args)?;
        if code != 0 {
            return Err(MaqetError::new(
                ErrorKind::Failure,
                format!("cannot create the directory {target} in the guest (mkdir exited {code})"),
            ));
        }
        for (file, len) in files {
            self.file_in(
                &src.join(&file),
                &format!("{target}/{}", file.display()),
                len,
            )?;
        }
        Ok(())
    }

    fn file_in(&mut self, src: &Path, target: &str, len: u64) -> Result<(), MaqetError> {
        if !self.force && self.guest_test("-e", target)? {
            return Err(MaqetError::new(
                ErrorKind::AlreadyExists,
                format!("{target} already exists in the guest; add --force to replace it"),
            ));
        }
        let mut file = std::fs::File::open(src)
            .map_err(|e| MaqetError::io(format!("cannot open {}", src.display()), e))?;
        let handle = self.agent.call(
            "guest-file-open",
            Some(json!({"path": target, "mode": "w"})),
            AGENT_CALL_LIMIT,
        )?;
        let result = self.write_chunks(&mut file, &handle, src, target, len);
        let closed = self.agent.call(
            "guest-file-close",
            Some(json!({"handle": handle})),
            AGENT_CALL_LIMIT,
        );
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
                    self.agent.name
                ),
                err,
            )),
        }
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
            let wrote: FileWrite = self.agent.call_as(
                "guest-file-write",
                Some(json!({"handle": handle, "buf-b64": encode_base64(&chunk[..n])})),
                AGENT_CALL_LIMIT,
            )?;
            if wrote.count != n as u64 {
                return Err(MaqetError::new(
                    ErrorKind::Failure,
                    format!(
                        "the guest agent wrote {} of {n} bytes to {target}",
                        wrote.count
                    ),
                ));
            }
            done += n as u64;
            self.bytes += n as u64;
            self.maqet.progress(&format!(
                "{}: {} of {} MiB",
                base_name(target),
                done / CHUNK as u64,
                len.div_ceil(CHUNK as u64)
            ));
        }
    }

    fn copy_out(&mut self, src: &str, dst: &Path, recursive: bool) -> Result<(), MaqetError> {
        let target = if dst.is_dir() {
            dst.join(base_name(src))
        } else {
            dst.to_path_buf()
        };
        if !self.guest_test("-d", src)? {
            return self.file_out(src, &target);
        }
        if !recursive {
            return Err(MaqetError::invalid(format!(
                "{src} is a directory in the guest; copy it with `-r`"
            )));
        }
        let root = src.trim_end_matches('/');
        let list = |copier: &mut Self, kind: &str| -> Result<Vec<String>, MaqetError> {
            let (code, out) = copier.agent.run_helper("find", &[root, "-type", kind])?;
            if code != 0 {
                return Err(MaqetError::new(
                    ErrorKind::Failure,
                    format!("cannot list {root} in the guest (find exited {code})"),
                ));
            }
            Ok(String::from_utf8_lossy(&out)
                .lines()
                .filter_map(|l| l.strip_prefix(root))
                .map(|l| l.trim_start_matches('/').to_owned())
                .collect())
        };
        for dir in list(self, "d")? {
            let path = target.join(&dir);
            std::fs::create_dir_all(&path)
                .map_err(|e| MaqetError::io(format!("cannot create {}", path.display()), e))?;
        }
        for file in list(self, "f")? {
            self.file_out(&format!("{root}/{file}"), &target.join(&file))?;
        }
        Ok(())
    }

    fn file_out(&mut self, src: &str, target: &Path) -> Result<(), MaqetError> {
        if !self.force && target.exists() {
            return Err(MaqetError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{} already exists; add --force to replace it",
                    target.display()
                ),
            ));
        }
        let handle = self.agent.call(
            "guest-file-open",
            Some(json!({"path": src, "mode": "r"})),
            AGENT_CALL_LIMIT,
        )?;
        let partial = partial_path(target);
        let result = self.read_chunks(&handle, src, &partial);
        drop(self.agent.call(
            "guest-file-close",
            Some(json!({"handle": handle})),
            AGENT_CALL_LIMIT,
        ));
        let result = result.and_then(|()| {
            std::fs::rename(&partial, target).map_err(|e| {
                MaqetError::io(format!("cannot move the copy to {}", target.display()), e)
            })
        });
        match result {
            Ok(()) => {
                self.files += 1;
                Ok(())
            }
            Err(err) => {
                drop(std::fs::remove_file(&partial));
                Err(err)
            }
        }
    }

    fn read_chunks(&mut self, handle: &Value, src: &str, partial: &Path) -> Result<(), MaqetError> {
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(partial)
            .map_err(|e| MaqetError::io(format!("cannot create {}", partial.display()), e))?;
        let mut done = 0u64;
        loop {
            let read: FileRead = self.agent.call_as(
                "guest-file-read",
                Some(json!({"handle": handle, "count": CHUNK})),
                AGENT_CALL_LIMIT,
            )?;
            let bytes = decode_base64(&read.buf_b64).map_err(|e| {
                MaqetError::with_source(
                    ErrorKind::Failure,
                    format!("the guest agent sent {src} as invalid base64"),
                    e,
                )
            })?;
            out.write_all(&bytes)
                .map_err(|e| MaqetError::io(format!("cannot write {}", partial.display()), e))?;
            done += bytes.len() as u64;
            self.bytes += bytes.len() as u64;
            self.maqet
                .progress(&format!("{}: {} MiB", base_name(src), done / CHUNK as u64));
            if read.eof || bytes.is_empty() {
                return out
                    .sync_all()
                    .map_err(|e| MaqetError::io(format!("cannot write {}", partial.display()), e));
            }
        }
    }
}

/// A temporary name next to `target`, renamed onto it once the copy is complete.
fn partial_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.maqet-partial-{}", std::process::id()))
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

/// Lists a host directory tree: subdirectories and files (with sizes), relative to `root`.
fn walk_host(
    root: &Path,
    rel: &Path,
    dirs: &mut Vec<PathBuf>,
    files: &mut Vec<(PathBuf, u64)>,
) -> Result<(), MaqetError> {
    let dir = root.join(rel);
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| MaqetError::io(format!("cannot list {}", dir.display()), e))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| MaqetError::io(format!("cannot list {}", dir.display()), e))?;
        let path = rel.join(entry.file_name());
        let meta = std::fs::metadata(entry.path())
            .map_err(|e| MaqetError::io(format!("cannot read {}", entry.path().display()), e))?;
        if meta.is_dir() {
            dirs.push(path.clone());
            walk_host(root, &path, dirs, files)?;
        } else if meta.is_file() {
            files.push((path, meta.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths_need_a_vm_and_an_absolute_path() {
        assert_eq!(guest_side("web:/tmp/x"), Some(("web", "/tmp/x")));
        assert_eq!(guest_side("./web:/tmp"), None);
        assert_eq!(guest_side("web:tmp"), None);
        assert_eq!(guest_side("/tmp/a:b"), None);
        assert_eq!(base_name("/a/b/"), "b");
    }
}
