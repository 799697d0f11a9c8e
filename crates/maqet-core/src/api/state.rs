//! `state rebuild`: the registry recreated from each VM's record file, running QEMUs re-adopted;
//! plus the pieces `doctor` and opening the database share (restoring lost rows, online
//! backups, setting a damaged database file aside).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use maqet_macros::{api_method, api_requests};
use maqet_state::{StateDb, VmStatus};
use serde::Serialize;

use crate::census::Census;
use crate::registry::CommandOutput;
use crate::{Maqet, MaqetError};

/// How old the newest online backup may get before opening the database takes another.
const BACKUP_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// `state rebuild`: what was recovered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RebuildReport {
    /// Where the damaged database file was moved, when it was damaged.
    pub moved_aside: Option<PathBuf>,
    /// VMs whose rows were recreated from their record files.
    pub restored: Vec<String>,
    /// How many VMs the database already had.
    pub kept: usize,
    /// VMs found running (their QEMU re-adopted by a new runner when needed).
    pub running: Vec<String>,
    /// Record files that could not be used, and why.
    pub problems: Vec<String>,
}

impl CommandOutput for RebuildReport {
    fn human(&self) -> Option<String> {
        let mut out = String::new();
        if let Some(path) = &self.moved_aside {
            let _ = writeln!(out, "moved the damaged database to {}", path.display());
        }
        let _ = write!(
            out,
            "restored {} VM(s) from their record files{}; {} already registered",
            self.restored.len(),
            if self.restored.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.restored.join(", "))
            },
            self.kept
        );
        if !self.running.is_empty() {
            let _ = write!(out, "\nrunning: {}", self.running.join(", "));
        }
        for problem in &self.problems {
            let _ = write!(out, "\nskipped: {problem}");
        }
        Some(out)
    }
}

/// What [`Maqet::restore_missing_rows`] did.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    pub restored: Vec<String>,
    pub problems: Vec<String>,
}

#[api_requests]
impl Maqet {
    /// Recreate the VM registry from each VM's record file and re-adopt running QEMUs.
    ///
    /// Every VM keeps a copy of its definition and identity (id, name, config, creation time,
    /// QEMU and runner processes) in `<data>/vms/<id>/vm.json`. A damaged database file is
    /// moved into `<data>/backups/` first; then every VM missing from the registry gets its row
    /// back, and a QEMU still running for a VM gets a new runner.
    #[api_method(
        group = "state",
        group_about = "Recover maqet's VM registry (the state database)",
        category = "maintenance",
        examples = ["maqet state rebuild", "maqet state rebuild --format json"]
    )]
    pub fn rebuild(&self) -> Result<RebuildReport, MaqetError> {
        self.rebuild_state()
    }

    pub(crate) fn rebuild_state(&self) -> Result<RebuildReport, MaqetError> {
        let mut report = RebuildReport::default();
        if !self.db_is_open() && database_damaged(&self.dirs().state_db()) {
            report.moved_aside = Some(set_aside_database(&self.dirs().state_db())?);
        }
        let db = self.db()?;
        let mut restored = self.take_recovered();
        let more = self.restore_missing_rows(db);
        restored.extend(more.restored);
        report.problems = more.problems;
        let census = self.census();
        let vms = db.list_vms(None)?;
        report.kept = vms.len().saturating_sub(restored.len());
        for vm in vms {
            let vm = self.reconcile_in(vm, false, &census);
            if matches!(vm.status, VmStatus::Running | VmStatus::Paused) {
                report.running.push(vm.name);
            }
        }
        report.restored = restored;
        Ok(report)
    }

    /// Puts back every VM that has a record file but no row; returns what it did.
    pub(crate) fn restore_missing_rows(&self, db: &StateDb) -> Restored {
        let mut out = Restored::default();
        for found in maqet_state::scan_vm_files(&self.dirs().data.join("vms")) {
            let (dir, file) = match found {
                Ok(found) => found,
                Err(err) => {
                    out.problems.push(maqet_error_chain::error_chain(&err));
                    continue;
                }
            };
            let vm = &file.vm;
            match db.find_vm(&vm.id) {
                Ok(Some(row)) if row.id == vm.id => continue,
                Ok(_) => {}
                Err(err) => {
                    out.problems.push(maqet_error_chain::error_chain(&err));
                    continue;
                }
            }
            let expected = self.dirs().vm_data_dir(&vm.id);
            let same_dir = dir == expected
                || std::fs::canonicalize(&expected).ok() == std::fs::canonicalize(&dir).ok();
            if !same_dir {
                out.problems.push(format!(
                    "{} names VM {} ({}), whose directory is {}",
                    dir.join(maqet_state::VM_FILE_NAME).display(),
                    vm.name,
                    vm.id,
                    expected.display()
                ));
                continue;
            }
            match db.restore_vm(vm, &file.storage) {
                Ok(()) => {
                    tracing::info!(vm = %vm.name, id = %vm.id, "restored the VM's row from its record file");
                    out.restored.push(vm.name.clone());
                }
                Err(err) => out.problems.push(format!(
                    "VM {} ({}): {}",
                    vm.name,
                    vm.id,
                    maqet_error_chain::error_chain(&err)
                )),
            }
        }
        out
    }

    /// When a QEMU runs for a VM id the database does not know (the database was replaced
    /// by another or an older file) and that VM has a record file, puts its row back.
    pub(crate) fn restore_running_unknown(&self, census: &Census) -> Result<(), MaqetError> {
        let db = self.db()?;
        let unknown: Vec<String> = census
            .vm_ids()
            .into_iter()
            .filter(|id| db.find_vm(id).ok().flatten().is_none_or(|vm| vm.id != *id))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let restored = self.restore_missing_rows(db).restored;
        if !restored.is_empty() {
            let message = format!(
                "running VMs were missing from the state database; restored {} from their record files: {}",
                restored.len(),
                restored.join(", ")
            );
            tracing::warn!("{message}");
            self.progress(&message);
        }
        Ok(())
    }

    /// Takes an online backup when the newest is older than [`BACKUP_INTERVAL`].
    pub(crate) fn backup_if_due(&self, db: &StateDb) {
        let newest =
            maqet_state::newest_online_backup(&self.dirs().state_db()).map(|(_, time)| time);
        let due = newest.is_none_or(|time| {
            SystemTime::now()
                .duration_since(time)
                .is_ok_and(|age| age >= BACKUP_INTERVAL)
        });
        if !due || db.has_vms().is_ok_and(|any| !any) {
            return;
        }
        match db.backup_online() {
            Ok(Some(path)) => tracing::debug!("backed up the state database to {}", path.display()),
            Ok(None) => {}
            Err(err) => tracing::warn!("cannot back up the state database: {err}"),
        }
    }
}

/// The newest online backup of the database at `db_path`, if any.
pub(crate) fn newest_backup(db_path: &Path) -> Option<PathBuf> {
    maqet_state::newest_online_backup(db_path).map(|(path, _)| path)
}

/// Whether the database file exists and is damaged or not a database at all.
pub(crate) fn database_damaged(db_path: &Path) -> bool {
    if !db_path.exists() {
        return false;
    }
    match StateDb::open(db_path) {
        Ok(db) => !db
            .integrity_check()
            .is_ok_and(|problems| problems.is_empty()),
        Err(err) => err.kind() == maqet_state::ErrorKind::Corrupt,
    }
}

/// Moves a damaged database (and its `-wal`/`-shm` files) to `backups/<stem>-damaged-<time>.db`.
pub(crate) fn set_aside_database(db_path: &Path) -> Result<PathBuf, MaqetError> {
    let dir = maqet_state::backup_dir(db_path);
    crate::dirs::create_private_dir(&dir)?;
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let stem = db_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "maqet".into());
    let target = dir.join(format!("{stem}-damaged-{stamp}.db"));
    std::fs::rename(db_path, &target).map_err(|e| {
        MaqetError::io(
            format!(
                "cannot move the damaged state database {} to {}",
                db_path.display(),
                target.display()
            ),
            e,
        )
    })?;
    let name = db_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for suffix in ["-wal", "-shm"] {
        let log = db_path.with_file_name(format!("{name}{suffix}"));
        if log.exists() {
            let _ = std::fs::rename(&log, dir.join(format!("{stem}-damaged-{stamp}.db{suffix}")));
        }
    }
    Ok(target)
}
