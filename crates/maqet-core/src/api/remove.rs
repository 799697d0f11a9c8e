//! `rm`: removing VMs, and with `--clean-storage` every file maqet made for them.
//!
//! Several VMs are removed clones first: a linked clone's overlay is backed by its source's
//! image, so the source's files can only go once no remaining VM reads them. A file is kept
//! (and the report says why) when the user gave it to maqet, when another VM still uses it,
//! or when `--clean-storage` was not asked for.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use maqet_macros::{api_method, api_requests};
use maqet_state::{VmRecord, VmStatus};
use maqet_storage::QemuImg;

use crate::results::RemoveReport;
use crate::{Maqet, MaqetError};

/// How deep a backing chain is followed (qcow2 overlays on overlays).
const MAX_CHAIN: usize = 16;
/// How deep `--clean-storage` walks into a VM's data directory.
const MAX_DATA_DIR_DEPTH: usize = 4;

#[api_requests]
impl Maqet {
    /// Remove VMs (or all VMs) from maqet.
    ///
    /// A running VM needs `--force`, which stops it first. `--clean-storage` deletes the files
    /// maqet created for the VM (disks, overlays, logs) and keeps files you pointed it at, and
    /// files another VM still uses (the source image of a linked clone); the result says why
    /// each kept file stayed. Several VMs are removed linked clones first, so a source's image
    /// goes too when all its clones go. `--all` asks for confirmation on a terminal unless
    /// `--force` is given.
    #[api_method(
        category = "vm",
        python_params = ["vm as vm_id", "force", "all", "clean_storage"],
        python_returns = "done",
        examples = [
            "maqet rm web",
            "maqet rm web --force --clean-storage",
            "maqet rm base clone-1 clone-2 --clean-storage",
            "maqet rm --all --force"
        ]
    )]
    pub fn rm(
        &self,
        #[arg(positional, help = "VM names or ids", value_name = "VM")] vm: Vec<String>,
        #[arg(
            help = "Remove running VMs too (stops them), and never ask",
            answers_yes
        )]
        force: bool,
        #[arg(help = "Remove every VM", confirm = "Remove ALL virtual machines?")] all: bool,
        #[arg(help = "Also delete the files maqet created for the VMs (disks, overlays, logs)")]
        clean_storage: bool,
    ) -> Result<RemoveReport, MaqetError> {
        let db = self.db()?;
        let targets: Vec<VmRecord> = match (vm.is_empty(), all) {
            (false, true) => {
                return Err(MaqetError::invalid("give VMs or `--all`, not both"));
            }
            (true, false) => {
                return Err(MaqetError::invalid(
                    "say which VM to remove, or use `--all`",
                ));
            }
            (false, false) => {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                for ident in &vm {
                    let record = self.vm_record(ident)?;
                    if seen.insert(record.id.clone()) {
                        out.push(record);
                    }
                }
                out
            }
            (true, true) => db.list_vms(None)?,
        };
        let census = self.census();
        let targets: Vec<VmRecord> = targets
            .into_iter()
            .map(|vm| self.reconcile_in(vm, false, &census))
            .collect();
        if !force
            && let Some(running) = targets
                .iter()
                .find(|vm| matches!(vm.status, VmStatus::Running | VmStatus::Paused))
        {
            return Err(MaqetError::IsRunning {
                vm: running.name.clone(),
                command: crate::error::NeedsStopped::Remove,
            });
        }
        let mut report = RemoveReport::default();
        if !clean_storage {
            for vm in targets {
                self.remove_one(vm, None, &mut report)?;
            }
            return Ok(report);
        }
        let mut uses = FileUses::of_all_vms(self)?;
        for vm in uses.removal_order(targets) {
            self.remove_one(vm, Some(&mut uses), &mut report)?;
        }
        Ok(report)
    }
}

impl Maqet {
    /// Removes one VM; with `uses` (`--clean-storage`), deletes its files no other VM uses.
    fn remove_one(
        &self,
        vm: VmRecord,
        uses: Option<&mut FileUses>,
        report: &mut RemoveReport,
    ) -> Result<(), MaqetError> {
        let _lock = self.lock_vm(&vm)?;
        let vm = self.reconcile(self.vm_record(&vm.id)?, true);
        if matches!(vm.status, VmStatus::Running | VmStatus::Paused) {
            self.stop_record(&vm, true, std::time::Duration::ZERO)?;
        }
        let db = self.db()?;
        let files = db.storage_for_vm(&vm.id)?;
        db.delete_vm(&vm.id)?;
        maqet_runner::name_link::forget(&self.dirs().runtime, &vm.name, &vm.id);
        let Some(uses) = uses else {
            for entry in files {
                report.keep(entry.path, "not deleted: `--clean-storage` was not given");
            }
            tracing::info!(vm = %vm.name, "VM removed");
            report.removed.push(vm.name);
            return Ok(());
        };
        // The VM's configured files and directories are handled by their records below, or
        // are the user's (a shared directory, a disk never started): the walk leaves them.
        let configured = uses.forget(&vm.id);
        let delete = |path: &Path, report: &mut RemoveReport| match std::fs::remove_file(path) {
            Ok(()) => {
                report.deleted(path.to_path_buf());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(MaqetError::io(
                format!(
                    "VM `{}` is removed, but deleting {} failed",
                    vm.name,
                    path.display()
                ),
                e,
            )),
        };
        let mut keep_in_dir = HashSet::new();
        for entry in files {
            if !entry.created_by_maqet {
                keep_in_dir.insert(canonical(&entry.path));
                report.keep(
                    entry.path,
                    "not created by maqet: a file you gave the VM is never deleted",
                );
            } else if let Some(users) = uses.users_of(&entry.path) {
                keep_in_dir.insert(canonical(&entry.path));
                report.keep(entry.path, &format!("still used by {users}"));
            } else {
                delete(&entry.path, report)?;
            }
        }
        // Logs, the record file and anything else maqet wrote in the VM's own directory.
        let dir = canonical(&self.dirs().vm_data_dir(&vm.id));
        let mut leftovers = Vec::new();
        collect_files(&dir, MAX_DATA_DIR_DEPTH, &configured, &mut leftovers);
        leftovers.sort();
        for file in leftovers {
            let key = canonical(&file);
            if keep_in_dir.contains(&key) || configured.contains(&key) {
                continue;
            }
            if let Some(users) = uses.users_of(&file) {
                report.keep(file, &format!("still used by {users}"));
                continue;
            }
            delete(&file, report)?;
        }
        remove_empty_dirs(&dir, MAX_DATA_DIR_DEPTH, &configured);
        self.remove_empty_vm_data_dir(&vm);
        tracing::info!(vm = %vm.name, deleted = report.deleted_files.len(), "VM removed");
        report.removed.push(vm.name);
        Ok(())
    }
}

/// Which VMs read which files: each VM's drive files, and every image under them through
/// qcow2 backing references (a linked clone reads its source's image).
struct FileUses {
    /// VM id -> (name, canonical paths it reads).
    by_vm: HashMap<String, (String, HashSet<PathBuf>)>,
    /// VM id -> canonical paths registered or configured as its own.
    own: HashMap<String, HashSet<PathBuf>>,
    /// VM id -> canonical paths of the images below its drives (backing files only; a file
    /// two VMs both name, such as a shared CD, orders nothing).
    backing: HashMap<String, HashSet<PathBuf>>,
}

impl FileUses {
    fn of_all_vms(maqet: &Maqet) -> Result<FileUses, MaqetError> {
        let qemu_img = QemuImg::new();
        let db = maqet.db()?;
        let mut by_vm = HashMap::new();
        let mut own = HashMap::new();
        let mut backing_of = HashMap::new();
        for vm in db.list_vms(None)? {
            let mut reads = HashSet::new();
            let mut below = HashSet::new();
            let mut mine = HashSet::new();
            for drive in maqet.vm_drives(&vm).unwrap_or_default() {
                let Some(file) = drive.file.or(drive.path) else {
                    continue;
                };
                mine.insert(canonical(&file));
                reads.insert(canonical(&file));
                let mut next = Some(file);
                for _ in 0..MAX_CHAIN {
                    let Some(image) = next.take().filter(|p| p.is_file()) else {
                        break;
                    };
                    let Some(backing) = qemu_img
                        .info(&image, true)
                        .ok()
                        .and_then(|info| info.backing_file)
                    else {
                        break;
                    };
                    reads.insert(canonical(&backing));
                    below.insert(canonical(&backing));
                    next = Some(backing);
                }
            }
            for entry in db.storage_for_vm(&vm.id)? {
                mine.insert(canonical(&entry.path));
            }
            own.insert(vm.id.clone(), mine);
            backing_of.insert(vm.id.clone(), below);
            by_vm.insert(vm.id, (vm.name, reads));
        }
        Ok(FileUses {
            by_vm,
            own,
            backing: backing_of,
        })
    }

    /// The VMs (other than removed ones) that read `path`, as `VM `a`, VM `b``.
    fn users_of(&self, path: &Path) -> Option<String> {
        let key = canonical(path);
        let mut names: Vec<&str> = self
            .by_vm
            .values()
            .filter(|(_, reads)| reads.contains(&key))
            .map(|(name, _)| name.as_str())
            .collect();
        if names.is_empty() {
            return None;
        }
        names.sort_unstable();
        let names: Vec<String> = names.iter().map(|n| format!("VM `{n}`")).collect();
        Some(names.join(", "))
    }

    /// The VM is gone: its reads no longer keep files. Returns its own files.
    fn forget(&mut self, vm_id: &str) -> HashSet<PathBuf> {
        self.by_vm.remove(vm_id);
        self.backing.remove(vm_id);
        self.own.remove(vm_id).unwrap_or_default()
    }

    /// `targets` with every VM after the VMs whose images are overlays on its files (clones
    /// before sources); otherwise in the order given.
    fn removal_order(&self, targets: Vec<VmRecord>) -> Vec<VmRecord> {
        let empty = HashSet::new();
        let mut left = targets;
        let mut order = Vec::with_capacity(left.len());
        while !left.is_empty() {
            let free = left.iter().position(|candidate| {
                let mine = self.own.get(&candidate.id).unwrap_or(&empty);
                !left.iter().any(|other| {
                    other.id != candidate.id
                        && self
                            .backing
                            .get(&other.id)
                            .is_some_and(|below| !below.is_disjoint(mine))
                })
            });
            // A cycle cannot come from backing files; if the records say so, keep the order.
            order.push(left.remove(free.unwrap_or(0)));
        }
        order
    }
}

/// The path with symbolic links resolved, or as given when it does not exist.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Regular files and symbolic links under `dir` (links are never followed), outside the
/// directories in `skip`.
fn collect_files(dir: &Path, depth: usize, skip: &HashSet<PathBuf>, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if depth > 0 && !skip.contains(&entry.path()) {
                collect_files(&entry.path(), depth - 1, skip, out);
            }
        } else {
            out.push(entry.path());
        }
    }
}

/// Removes the empty directories below `dir` (not `dir` itself, nor those in `skip`).
fn remove_empty_dirs(dir: &Path, depth: usize, skip: &HashSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|k| k.is_dir()) && depth > 0 && !skip.contains(&entry.path())
        {
            remove_empty_dirs(&entry.path(), depth - 1, skip);
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}
