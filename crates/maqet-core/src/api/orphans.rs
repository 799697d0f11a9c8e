//! `storage orphaned`: files under maqet's data directory that no VM uses.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use maqet_macros::{api_method, api_requests};
use maqet_storage::QemuImg;
use serde::Serialize;

use crate::registry::CommandOutput;
use crate::text::human_bytes;
use crate::{Maqet, MaqetError};

/// A file under `<data>/vms/` that no VM uses.
#[derive(Debug, Clone, Serialize)]
pub struct OrphanFile {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
}

/// `storage orphaned`: the files found.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct OrphanReport(pub Vec<OrphanFile>);

impl CommandOutput for OrphanReport {
    fn human(&self) -> Option<String> {
        if self.0.is_empty() {
            return Some("No orphaned storage found.".into());
        }
        let mut out = format!("Found {} orphaned file(s):", self.0.len());
        for f in &self.0 {
            let _ = write!(
                out,
                "\n  {} ({})",
                f.path.display(),
                human_bytes(f.size_bytes)
            );
        }
        let total: u64 = self.0.iter().map(|f| f.size_bytes).sum();
        let _ = write!(
            out,
            "\nTotal: {}\nNothing was deleted. Remove them by hand, or give one to a new VM with `maqet storage attach NAME PATH CONFIG`.",
            human_bytes(total)
        );
        Some(out)
    }
}

#[api_requests]
impl Maqet {
    /// List files under maqet's data directory that no VM uses.
    ///
    /// Looks at every file under `<data>/vms/` (images of any extension, logs of removed VMs,
    /// leftovers of failed creates) and reports those that no VM's config, no registered
    /// storage entry and no image's backing chain refers to. Nothing is deleted.
    #[api_method(group = "storage", category = "storage", examples = ["maqet storage orphaned", "maqet storage orphaned --format json"])]
    pub fn orphaned(&self) -> Result<OrphanReport, MaqetError> {
        Ok(OrphanReport(self.orphaned_files()?))
    }

    /// Files under `<data>/vms/` that nothing refers to.
    pub(crate) fn orphaned_files(&self) -> Result<Vec<OrphanFile>, MaqetError> {
        let root = self.dirs().data.join("vms");
        let mut files = Vec::new();
        collect_files(&root, &mut files);
        // maqet's own marker files at the top (e.g. the layout marker) belong to no VM.
        files.retain(|f| {
            f.parent() != Some(root.as_path())
                || !f
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        });
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let db = self.db()?;
        let mut used = PathSet::default();
        let mut owned_dirs = Vec::new();
        let mut images = Vec::new();
        for vm in db.list_vms(None)? {
            let paths = self.vm_paths(&vm);
            let record_file = paths.data_dir.join(maqet_state::VM_FILE_NAME);
            for log in [
                paths.serial_log(),
                paths.events_log(),
                paths.runner_log(),
                record_file,
            ] {
                used.insert(&log);
            }
            for state in crate::saved_state::files_of(&paths.data_dir) {
                used.insert(&state);
            }
            match self.vm_drives(&vm) {
                Ok(drives) => {
                    for d in drives {
                        if let Some(dir) = &d.path {
                            owned_dirs.push(dir.clone());
                        }
                        for p in [&d.file, &d.backing_file].into_iter().flatten() {
                            used.insert(p);
                            images.push(p.clone());
                        }
                    }
                }
                // A config we cannot read: treat its whole data directory as in use.
                Err(_) => owned_dirs.push(self.dirs().vm_data_dir(&vm.id)),
            }
        }
        for entry in db.all_storage()? {
            used.insert(&entry.path);
            images.push(entry.path);
        }
        // Images may sit on backing files that only their qcow2 header names.
        let qemu_img = QemuImg::new();
        let mut seen = HashSet::new();
        while let Some(image) = images.pop() {
            if !image.is_file() || !seen.insert(image.clone()) || seen.len() > 4096 {
                continue;
            }
            if let Ok(info) = qemu_img.info(&image, true)
                && let Some(backing) = info.backing_file
            {
                used.insert(&backing);
                images.push(backing);
            }
        }
        Ok(files
            .into_iter()
            .filter(|f| !used.contains(f) && !owned_dirs.iter().any(|d| f.starts_with(d)))
            .map(|path| OrphanFile {
                size_bytes: std::fs::symlink_metadata(&path).map_or(0, |m| m.len()),
                path,
            })
            .collect())
    }
}

/// Paths compared both as written and canonicalized.
#[derive(Default)]
struct PathSet(HashSet<PathBuf>);

impl PathSet {
    fn insert(&mut self, path: &Path) {
        self.0.insert(path.to_path_buf());
        if let Ok(real) = path.canonicalize() {
            self.0.insert(real);
        }
    }

    fn contains(&self, path: &Path) -> bool {
        self.0.contains(path) || path.canonicalize().is_ok_and(|real| self.0.contains(&real))
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_files(&entry.path(), out),
            // `<id>` links to an old `<name>` directory, which is walked itself.
            Ok(t) if t.is_symlink() && entry.path().is_dir() => {}
            Ok(_) => out.push(entry.path()),
            Err(_) => {}
        }
    }
}
