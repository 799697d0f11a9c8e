//! What QEMU opens behind an image path: the image itself, its backing chain and any qcow2
//! external data file. Each file is checked as a direct path argument is, before qemu-img is
//! asked what it names, so no file is opened (not even by qemu-img) before it passed.
//!
//! Every file must also be a regular file owned by the runner's user or root, in directories
//! no other user can swap it in: another user's image could name a different backing file the
//! moment after maqet read it. Formats whose
//! references maqet cannot read (VMDK extents, and any format not in [`CHECKED_FORMATS`]) are
//! refused; `format: raw` names nothing, so a raw image needs only its own checks.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use maqet_error_chain::error_chain;
use maqet_storage::QemuImg;

use super::list::PathUse;
use super::paths::{AllowedDirs, protocol_prefix};

/// Formats maqet can read every referenced file of (or that reference none).
pub const CHECKED_FORMATS: &[&str] = &["raw", "qcow2", "qed", "vdi", "vpc", "vhdx"];

/// How long qemu-img may take for one image.
const PER_IMAGE: Duration = Duration::from_secs(5);
/// How long reading a whole chain may take.
const CHAIN_BUDGET: Duration = Duration::from_secs(10);
/// How much of an image is read to tell its format (QEMU's probe reads 2 KiB).
const HEADER: u64 = 4096;
/// The longest backing chain checked.
pub const MAX_CHAIN: usize = 16;

/// Checks the image `path` (argument `name`) that QEMU opens as `format` (probed when `None`),
/// and every file it names. `Err` says which file failed and why.
pub fn check_image(
    dirs: &AllowedDirs,
    name: &str,
    path: &str,
    format: Option<&str>,
    usage: PathUse,
) -> Result<(), String> {
    dirs.check(path, usage)
        .map_err(|why| format!("argument '{name}' is not a path it may use: {why}"))?;
    let mut walk = Walk {
        dirs,
        deadline: Instant::now() + CHAIN_BUDGET,
        seen: HashSet::new(),
    };
    walk.image(Path::new(path), format, usage, 0)
        .map_err(|why| format!("argument '{name}': {why}"))
}

struct Walk<'a> {
    dirs: &'a AllowedDirs,
    deadline: Instant,
    seen: HashSet<PathBuf>,
}

impl Walk<'_> {
    /// One image of the chain (already path-checked); `Err` names the file.
    fn image(
        &mut self,
        path: &Path,
        format: Option<&str>,
        usage: PathUse,
        depth: usize,
    ) -> Result<(), String> {
        let shown = path.display();
        let real = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot open the image '{shown}' to check it: {e}"))?;
        if !self.seen.insert(real.clone()) {
            return Err(format!(
                "the backing chain loops back to '{}'",
                real.display()
            ));
        }
        if depth > MAX_CHAIN {
            return Err(format!(
                "the backing chain is longer than {MAX_CHAIN} images; flatten it with `qemu-img convert`"
            ));
        }
        let header = open_checked(&real)?;
        if format == Some("raw") {
            return Ok(());
        }
        if let Some(format) = format
            && !CHECKED_FORMATS.contains(&format)
        {
            return Err(format!(
                "the image '{shown}' is opened as '{format}', a format maqet cannot check for the other files it opens; use one of {}",
                CHECKED_FORMATS.join(", ")
            ));
        }
        let format = match (format, sniff(&header)) {
            (_, Sniffed::Vmdk) => {
                return Err(format!(
                    "the image '{shown}' is (or looks like) a VMDK image, whose extent files maqet cannot check; convert it with `qemu-img convert -O qcow2`, or give `format: raw` if it is raw"
                ));
            }
            (Some(given), _) => Some(given),
            (None, Sniffed::Format(found)) => Some(found),
            (None, Sniffed::Other) => None,
        };
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "reading the backing chain took longer than {} s",
                CHAIN_BUDGET.as_secs()
            ));
        }
        let refs = QemuImg::new()
            .with_timeout(left.min(PER_IMAGE))
            .references(&real, format)
            .map_err(|e| {
                format!(
                    "maqet could not read which files the image '{shown}' opens, so it does not let QEMU open it: {}",
                    error_chain(&e)
                )
            })?;
        if !CHECKED_FORMATS.contains(&refs.format.as_str()) {
            return Err(format!(
                "the image '{shown}' is a '{}' image, a format maqet cannot check for the other files it opens; convert it with `qemu-img convert -O qcow2`",
                refs.format
            ));
        }
        if let Some(data) = &refs.data_file {
            let data_path = self.referenced(&real, "data file", data, None, usage)?;
            let what = format!("the data file '{data}' of '{shown}'");
            open_checked(&data_path).map_err(|why| format!("{what}: {why}"))?;
        }
        if let Some(backing) = &refs.backing_file {
            let full = refs.full_backing_file.as_deref();
            let backing_path =
                self.referenced(&real, "backing file", backing, full, PathUse::Read)?;
            self.image(
                &backing_path,
                refs.backing_format.as_deref(),
                PathUse::Read,
                depth + 1,
            )
            .map_err(|why| format!("through the backing file '{backing}' of '{shown}': {why}"))?;
        }
        Ok(())
    }

    /// A file an image names (`what`, as written `named`, resolved by QEMU as `full`):
    /// refused when it is a protocol or `json:` name, missing, or fails the path checks.
    fn referenced(
        &self,
        image: &Path,
        what: &str,
        named: &str,
        full: Option<&str>,
        usage: PathUse,
    ) -> Result<PathBuf, String> {
        let refuse = |why: String| {
            format!(
                "the image '{}' names the {what} '{named}', which {why}",
                image.display()
            )
        };
        if let Some(protocol) = protocol_prefix(named) {
            return Err(refuse(format!(
                "is a QEMU '{protocol}:' name rather than a host file; maqet lets QEMU open only plain files"
            )));
        }
        let target = Path::new(full.unwrap_or(named));
        if !target.is_absolute() {
            return Err(refuse(
                "is relative, and QEMU would resolve it against its own working directory".into(),
            ));
        }
        let real = std::fs::canonicalize(target)
            .map_err(|e| refuse(format!("cannot be opened to check it ({e})")))?;
        let real_text = real.to_string_lossy();
        self.dirs
            .check(&real_text, usage)
            .map_err(|why| refuse(format!("is not a file QEMU may open: {why}")))?;
        Ok(real)
    }
}

/// Opens `path` without blocking and checks what was opened: a regular file owned by the
/// runner's user or root, in directories no other user can swap it in. Returns its first
/// [`HEADER`] bytes.
fn open_checked(path: &Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot open '{shown}' to check it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the metadata of '{shown}': {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "'{shown}' is not a regular file (QEMU would open a device, pipe or directory)"
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "'{shown}' is owned by uid {}, and another user could change which files it names after maqet checked it",
            meta.uid()
        ));
    }
    check_directories(path)?;
    let mut header = Vec::new();
    file.by_ref()
        .take(HEADER)
        .read_to_end(&mut header)
        .map_err(|e| format!("cannot read '{shown}': {e}"))?;
    Ok(header)
}

/// Checks the directories holding `path` (resolved, so no symlinks): none may let another
/// user replace the file after the check, that is none owned by another user (not root) and
/// none writable by everyone without the sticky bit. (Group-writable directories are allowed:
/// on most systems the group is the user's own.)
fn check_directories(path: &Path) -> Result<(), String> {
    let me = rustix::process::geteuid().as_raw();
    for dir in path.ancestors().skip(1) {
        let meta = std::fs::metadata(dir)
            .map_err(|e| format!("cannot read the metadata of '{}': {e}", dir.display()))?;
        let mode = meta.mode();
        if meta.uid() != me && meta.uid() != 0 {
            return Err(format!(
                "'{}' lies in '{}', which uid {} owns and could swap it for another file after maqet checked it",
                path.display(),
                dir.display(),
                meta.uid()
            ));
        }
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            return Err(format!(
                "'{}' lies in '{}', which every user may write to (and it is not sticky), so anyone could swap the file after maqet checked it",
                path.display(),
                dir.display()
            ));
        }
    }
    Ok(())
}

/// What an image's first bytes say it is.
#[derive(Debug, PartialEq, Eq)]
enum Sniffed {
    /// A format maqet reads with qemu-img `-f` (so qemu-img never probes it as another).
    Format(&'static str),
    /// VMDK (binary or a text descriptor), whose extents qemu-img opens even for `info`.
    Vmdk,
    /// Anything else: qemu-img probes it (the result is checked against [`CHECKED_FORMATS`]).
    Other,
}

fn sniff(header: &[u8]) -> Sniffed {
    if header.starts_with(b"QFI\xfb") {
        return Sniffed::Format("qcow2");
    }
    if header.starts_with(b"QED\0") {
        return Sniffed::Format("qed");
    }
    if header.starts_with(b"KDMV") || header.starts_with(b"COWD") {
        return Sniffed::Vmdk;
    }
    // QEMU takes a text file whose first line that is neither a comment nor blank starts
    // with `version=` as a VMDK descriptor.
    let text = String::from_utf8_lossy(header);
    // QEMU probes 2 KiB, [`HEADER`] is more: a text of comments only may have its `version=`
    // line beyond what was read, so it counts as a descriptor too.
    let first = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'));
    match first {
        Some(line) if line.starts_with("version=") => return Sniffed::Vmdk,
        None if text.trim_start().starts_with('#') => return Sniffed::Vmdk,
        _ => {}
    }
    Sniffed::Other
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;
