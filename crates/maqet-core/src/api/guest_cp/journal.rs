//! The record of where `cp` writes partial files, so `maqet doctor` can find those a killed
//! copy left behind.
//!
//! Only named partial files (where the file system has no `O_TMPFILE`, see
//! [`super::host_dir`]) can be left behind. A copy out of a guest appends each host directory
//! it creates a partial file in to
//! `<data>/cp-partials/<pid>` (NUL-separated paths) and removes that file when it ends. After
//! SIGKILL the record stays: `doctor` reads the records of dead pids, removes (with `--fix`)
//! the stale `.NAME.maqet-partial-PID` files in those directories, then the record.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::host_dir::{HostDir, process_alive};
use crate::api::CheckStatus;
use crate::text::escape_guest_text;

/// The directory of the records, under maqet's data directory.
fn records_dir(data: &Path) -> PathBuf {
    data.join("cp-partials")
}

/// This process's record, written as partial files appear.
pub struct CopyJournal {
    path: PathBuf,
    file: RefCell<Option<File>>,
    noted: RefCell<HashSet<PathBuf>>,
}

impl CopyJournal {
    /// A record for this process under `data` (created on first use).
    pub fn new(data: &Path) -> CopyJournal {
        CopyJournal {
            path: records_dir(data).join(std::process::id().to_string()),
            file: RefCell::new(None),
            noted: RefCell::new(HashSet::new()),
        }
    }

    /// Notes that partial files are created in `dir`. Best effort: without a record, a
    /// partial left by SIGKILL is still removed by the next `cp` into the same directory.
    pub fn note(&self, dir: &Path) {
        if !self.noted.borrow_mut().insert(dir.to_path_buf()) {
            return;
        }
        let mut file = self.file.borrow_mut();
        if file.is_none() {
            drop(std::fs::create_dir_all(records_dir_of(&self.path)));
            *file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
        }
        if let Some(file) = file.as_mut() {
            let mut entry = dir.as_os_str().as_bytes().to_vec();
            entry.push(0);
            drop(file.write_all(&entry));
        }
    }

    /// The copy ended (its partial files are gone): removes the record.
    pub fn finish(self) {
        if self.file.borrow().is_some() {
            drop(std::fs::remove_file(&self.path));
        }
    }
}

fn records_dir_of(record: &Path) -> &Path {
    record.parent().unwrap_or(record)
}

/// Partial files that copies killed earlier left behind, found through their records.
#[derive(Debug, Default)]
pub struct StalePartials {
    /// The partial files (full paths).
    pub files: Vec<PathBuf>,
    /// Whether they were removed.
    pub removed: bool,
}

impl StalePartials {
    /// The `doctor` check's verdict and its detail line.
    pub fn doctor_verdict(&self) -> (CheckStatus, String) {
        match (self.files.len(), self.removed) {
            (0, _) => (
                CheckStatus::Ok,
                "no partial files of interrupted `cp` runs".into(),
            ),
            (n, true) => (
                CheckStatus::Ok,
                format!("removed {n} partial file(s) of killed `cp` runs"),
            ),
            (n, false) => (
                CheckStatus::Warning,
                format!(
                    "{n} partial file(s) of killed `cp` runs: {}; `maqet doctor --fix` removes them",
                    self.files
                        .iter()
                        .map(|p| escape_guest_text(&p.display().to_string()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
}

/// Reads the records of dead `cp` processes under `data`; with `remove`, deletes their partial
/// files (only exact `.NAME.maqet-partial-PID` regular files of this user) and the records.
pub fn stale_partials(data: &Path, remove: bool) -> StalePartials {
    let mut found = StalePartials {
        files: Vec::new(),
        removed: remove,
    };
    let Ok(records) = std::fs::read_dir(records_dir(data)) else {
        return found;
    };
    for record in records.flatten() {
        let Some(pid) = record
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if process_alive(pid) {
            continue;
        }
        let Ok(text) = std::fs::read(record.path()) else {
            continue;
        };
        for dir_path in text.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            let dir_path = Path::new(OsStr::from_bytes(dir_path));
            let Ok(dir) = HostDir::open(dir_path) else {
                continue;
            };
            found.files.extend(
                dir.sweep_stale_partials(remove)
                    .into_iter()
                    .map(|name| dir_path.join(name)),
            );
        }
        if remove {
            drop(std::fs::remove_file(record.path()));
        }
    }
    found.files.sort();
    found.files.dedup();
    found
}
