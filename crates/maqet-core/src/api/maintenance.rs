//! Housekeeping: `storage orphaned`, `doctor` and `cleanup`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use maqet_macros::{api_method, api_requests};
use maqet_state::VmStatus;
use serde::Serialize;

use crate::api::orphans::OrphanFile;
use crate::registry::CommandOutput;
use crate::{Maqet, MaqetError};

/// Outcome of one `doctor` check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Fine.
    Ok,
    /// Works, but worth a look.
    Warning,
    /// Broken: maqet cannot work properly.
    Error,
}

/// One `doctor` check.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorCheck {
    /// `qemu`, `qemu-img`, `kvm`, `database`, `registry`, `vm-states`, `runtime-dirs`, `orphans`
    /// or `cp-partials`.
    pub name: &'static str,
    /// The verdict.
    pub status: CheckStatus,
    /// What was found, and what to do about it.
    pub detail: String,
}

/// `doctor`: the checks and what `--fix` changed.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// False when any check is an error (warnings do not count).
    pub healthy: bool,
    /// Whether `--fix` was given.
    pub fix: bool,
    /// Every check, in order.
    pub checks: Vec<DoctorCheck>,
    /// First line of `qemu-system-x86_64 --version`.
    pub qemu_version: Option<String>,
    /// First line of `qemu-img --version`.
    pub qemu_img_version: Option<String>,
    /// Whether `/dev/kvm` can be used.
    pub kvm_usable: bool,
    /// Problems reported by the database's integrity check.
    pub database_problems: Vec<String>,
    /// Runtime directories of VMs that are not running.
    pub stale_runtime_dirs: Vec<PathBuf>,
    /// Those removed by `--fix`.
    pub removed_runtime_dirs: Vec<PathBuf>,
    /// VMs recorded as running whose QEMU is gone (`maqet cleanup` fixes them).
    pub stale_vms: Vec<String>,
    /// Those set to stopped by `--fix`.
    pub cleaned_vms: Vec<String>,
    /// Files under the data directory that no VM uses (never deleted by `doctor`).
    pub orphaned_files: Vec<OrphanFile>,
    /// Partial files (`.NAME.maqet-partial-PID`) that killed `cp` runs left on the host.
    pub stale_cp_partials: Vec<PathBuf>,
    /// Whether `--fix` removed them.
    pub removed_cp_partials: bool,
}

impl CommandOutput for DoctorReport {
    fn human(&self) -> Option<String> {
        let mut out = String::new();
        for c in &self.checks {
            let mark = match c.status {
                CheckStatus::Ok => "ok  ",
                CheckStatus::Warning => "warn",
                CheckStatus::Error => "FAIL",
            };
            let _ = writeln!(out, "[{mark}] {:<12} {}", c.name, c.detail);
        }
        out.push_str(if self.healthy {
            "maqet is ready."
        } else {
            "maqet has problems; see FAIL above."
        });
        Some(out)
    }
}

#[api_requests]
impl Maqet {
    /// Check the host and maqet's own files: QEMU, qemu-img, KVM, database, stale runtime files.
    ///
    /// Reports only; with `--fix` it also removes runtime directories of VMs that are not
    /// running, marks VMs whose QEMU is gone as stopped, and removes partial files that killed
    /// `cp` runs left. Orphaned images are listed, never deleted.
    #[api_method(category = "maintenance", examples = ["maqet doctor", "maqet doctor --fix", "maqet doctor --format json"])]
    pub fn doctor(
        &self,
        #[arg(
            help = "Remove stale runtime directories and cp partial files, and reset stale VM states"
        )]
        fix: bool,
    ) -> Result<DoctorReport, MaqetError> {
        let mut checks = Vec::new();
        let mut check = |name, status, detail: String| {
            checks.push(DoctorCheck {
                name,
                status,
                detail,
            })
        };
        let qemu_version = tool_check("qemu-system-x86_64", "qemu-system-x86", &mut check, "qemu");
        let qemu_img_version = tool_check("qemu-img", "qemu-utils", &mut check, "qemu-img");
        let kvm_usable = Maqet::kvm_usable();
        match kvm_usable {
            true => check("kvm", CheckStatus::Ok, "/dev/kvm is usable".into()),
            false => check("kvm", CheckStatus::Warning, "/dev/kvm is not usable: VMs run with TCG emulation (slow); add your user to the `kvm` group or enable virtualization".into()),
        }
        let db_path = self.dirs().state_db();
        let database_problems = match self.db_is_open() {
            true => self.db()?.integrity_check()?,
            false => database_problems(&db_path),
        };
        let mut rebuilt = None;
        if fix && (!database_problems.is_empty() || !self.records_without_rows()?.is_empty()) {
            rebuilt = Some(self.rebuild_state()?);
        }
        match (database_problems.is_empty(), &rebuilt) {
            (true, _) => check(
                "database",
                CheckStatus::Ok,
                format!("{} passes its integrity check", db_path.display()),
            ),
            (false, Some(report)) => check(
                "database",
                CheckStatus::Ok,
                format!(
                    "{} was damaged ({}); moved it to {} and rebuilt the registry from the VMs' record files",
                    db_path.display(),
                    database_problems
                        .join("; ")
                        .chars()
                        .take(200)
                        .collect::<String>(),
                    report
                        .moved_aside
                        .as_ref()
                        .map_or_else(|| "(not moved)".into(), |p| p.display().to_string())
                ),
            ),
            (false, None) => check(
                "database",
                CheckStatus::Error,
                format!(
                    "{} problem(s): {}; `maqet doctor --fix` (or `maqet state rebuild`) moves it aside and rebuilds the registry from the VMs' record files{}",
                    database_problems.len(),
                    database_problems.join("; "),
                    crate::api::state::newest_backup(&db_path).map_or_else(String::new, |b| {
                        format!(", or restore the backup {}", b.display())
                    })
                ),
            ),
        }
        if !database_problems.is_empty() && rebuilt.is_none() {
            // Nothing more can be read from a damaged database.
            return Ok(DoctorReport {
                healthy: false,
                fix,
                checks,
                qemu_version,
                qemu_img_version,
                kvm_usable,
                database_problems,
                stale_runtime_dirs: Vec::new(),
                removed_runtime_dirs: Vec::new(),
                stale_vms: Vec::new(),
                cleaned_vms: Vec::new(),
                orphaned_files: Vec::new(),
                stale_cp_partials: Vec::new(),
                removed_cp_partials: false,
            });
        }
        let missing = self.records_without_rows()?;
        match (missing.is_empty(), &rebuilt) {
            (true, Some(report)) if !report.restored.is_empty() => check(
                "registry",
                CheckStatus::Ok,
                format!(
                    "restored from their record files: {}",
                    report.restored.join(", ")
                ),
            ),
            (true, _) => check(
                "registry",
                CheckStatus::Ok,
                "every VM record file has its row in the database".into(),
            ),
            (false, _) => check(
                "registry",
                CheckStatus::Error,
                format!(
                    "VMs with a record file but no row in the database: {}; `maqet state rebuild` restores them",
                    missing.join(", ")
                ),
            ),
        }
        let stale_vms: Vec<String> = self
            .cleanup_candidates(true)?
            .into_iter()
            .map(|(vm, _, _)| vm.name)
            .collect();
        let cleaned_vms: Vec<String> = match (fix, stale_vms.is_empty()) {
            (true, false) => self
                .run_cleanup(false, false)?
                .vms
                .into_iter()
                .filter(|v| v.done)
                .map(|v| v.name)
                .collect(),
            _ => Vec::new(),
        };
        match (stale_vms.is_empty(), cleaned_vms.len() == stale_vms.len()) {
            (true, _) => check(
                "vm-states",
                CheckStatus::Ok,
                "every VM recorded as running has its QEMU".into(),
            ),
            (false, true) => check(
                "vm-states",
                CheckStatus::Ok,
                format!("marked stopped: {}", cleaned_vms.join(", ")),
            ),
            (false, false) => check(
                "vm-states",
                CheckStatus::Warning,
                format!(
                    "recorded as running but QEMU is gone or unmanaged: {}; run `maqet cleanup`",
                    stale_vms.join(", ")
                ),
            ),
        }
        let stale_runtime_dirs = self.stale_runtime_dirs()?;
        let mut removed_runtime_dirs = Vec::new();
        if fix {
            for dir in &stale_runtime_dirs {
                std::fs::remove_dir_all(dir).map_err(|e| {
                    MaqetError::io(
                        format!(
                            "cannot remove the stale runtime directory {}",
                            dir.display()
                        ),
                        e,
                    )
                })?;
                removed_runtime_dirs.push(dir.clone());
            }
        }
        match (stale_runtime_dirs.len(), removed_runtime_dirs.len()) {
            (0, _) => check(
                "runtime-dirs",
                CheckStatus::Ok,
                "no stale runtime directories".into(),
            ),
            (n, r) if r == n => check(
                "runtime-dirs",
                CheckStatus::Ok,
                format!("removed {n} stale runtime {}", dirs_word(n)),
            ),
            (n, _) => check(
                "runtime-dirs",
                CheckStatus::Warning,
                format!(
                    "{n} runtime {} of VMs that are not running; `maqet doctor --fix` removes them",
                    dirs_word(n)
                ),
            ),
        }
        let orphaned_files = self.orphaned_files()?;
        match orphaned_files.len() {
            0 => check(
                "orphans",
                CheckStatus::Ok,
                "every file under the data directory belongs to a VM".into(),
            ),
            n => check(
                "orphans",
                CheckStatus::Warning,
                format!(
                    "{n} file(s) under {} belong to no VM; `maqet storage orphaned` lists them (they are never deleted automatically)",
                    self.dirs().data.join("vms").display()
                ),
            ),
        }
        let partials = crate::api::guest_cp::journal::stale_partials(&self.dirs().data, fix);
        let (status, detail) = partials.doctor_verdict();
        check("cp-partials", status, detail);
        Ok(DoctorReport {
            healthy: checks.iter().all(|c| c.status != CheckStatus::Error),
            fix,
            checks,
            qemu_version,
            qemu_img_version,
            kvm_usable,
            database_problems,
            stale_runtime_dirs,
            removed_runtime_dirs,
            stale_vms,
            cleaned_vms,
            orphaned_files,
            stale_cp_partials: partials.files,
            removed_cp_partials: partials.removed && fix,
        })
    }
}

impl Maqet {
    /// `<runtime>/vms/<id>` directories whose VM is gone or not running, and not in use.
    fn stale_runtime_dirs(&self) -> Result<Vec<PathBuf>, MaqetError> {
        let root = self.dirs().runtime.join("vms");
        let Ok(entries) = std::fs::read_dir(&root) else {
            return Ok(Vec::new());
        };
        let db = self.db()?;
        let census = self.census();
        let mut stale = Vec::new();
        for entry in entries.flatten() {
            let dir = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let id = entry.file_name().to_string_lossy().into_owned();
            // A QEMU or runner naming the directory makes it live, whatever the database says.
            if census.uses_runtime_dir(&dir, &id) {
                continue;
            }
            let in_use = match db.find_vm(&id)?.filter(|vm| vm.id == id) {
                Some(vm) => {
                    let vm = self.observe(vm);
                    matches!(vm.status, VmStatus::Running | VmStatus::Paused)
                        || crate::liveness::runner_alive(&vm)
                }
                None => false,
            };
            if !in_use && !runtime_dir_busy(self, &id, &dir) {
                stale.push(dir);
            }
        }
        stale.sort();
        Ok(stale)
    }
}

impl Maqet {
    /// Names of VMs that have a record file but no row in the database.
    fn records_without_rows(&self) -> Result<Vec<String>, MaqetError> {
        let db = self.db()?;
        let mut missing = Vec::new();
        for (_, file) in maqet_state::scan_vm_files(&self.dirs().data.join("vms"))
            .into_iter()
            .flatten()
        {
            if db
                .find_vm(&file.vm.id)?
                .is_none_or(|row| row.id != file.vm.id)
            {
                missing.push(file.vm.name);
            }
        }
        Ok(missing)
    }
}

/// Problems of the database file, from a connection of its own (opening errors included).
fn database_problems(db_path: &Path) -> Vec<String> {
    if !db_path.exists() {
        return Vec::new();
    }
    match maqet_state::StateDb::open(db_path) {
        Ok(db) => db
            .integrity_check()
            .unwrap_or_else(|err| vec![maqet_error_chain::root_cause(&err)]),
        Err(err) => vec![maqet_error_chain::root_cause(&err)],
    }
}

/// Whether a command or runner holds the VM's lock or its runtime directory's lock.
pub(crate) fn runtime_dir_busy(maqet: &Maqet, id: &str, dir: &Path) -> bool {
    let command_lock = maqet
        .dirs()
        .runtime
        .join("locks")
        .join(format!("{id}.lock"));
    [command_lock, dir.join("lock")].iter().any(|path| {
        let Ok(file) = std::fs::File::open(path) else {
            return false;
        };
        matches!(
            rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared),
            Err(rustix::io::Errno::WOULDBLOCK)
        )
    })
}

/// Finds `tool` on PATH, records a check, and returns its version line.
fn tool_check(
    tool: &str,
    package: &str,
    check: &mut impl FnMut(&'static str, CheckStatus, String),
    name: &'static str,
) -> Option<String> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| {
                use std::os::unix::fs::PermissionsExt;
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    });
    let Some(path) = found else {
        check(
            name,
            CheckStatus::Error,
            format!("{tool} is not on PATH; install the `{package}` package"),
        );
        return None;
    };
    let version = std::process::Command::new(&path)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        });
    match &version {
        Some(v) => check(name, CheckStatus::Ok, format!("{} ({v})", path.display())),
        None => check(
            name,
            CheckStatus::Error,
            format!(
                "{} does not run (`{tool} --version` failed); reinstall `{package}`",
                path.display()
            ),
        ),
    }
    version
}

fn dirs_word(n: usize) -> &'static str {
    if n == 1 { "directory" } else { "directories" }
}
