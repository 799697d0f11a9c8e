//! What a VM's processes really are: whether its QEMU and runner still run, re-adopting a
//! QEMU whose runner is gone, recording a QEMU the database missed, and orphan detection.

use std::time::Duration;

use maqet_runner::layout::VmPaths;
use maqet_state::{ProcessIdentity, RuntimeUpdate, VmRecord, VmStatus, VmSummary};

use crate::census::Census;
use crate::{Maqet, MaqetError};

impl Maqet {
    /// The runtime and data paths of a VM.
    pub fn vm_paths(&self, vm: &VmRecord) -> VmPaths {
        VmPaths::new(
            self.dirs().vm_runtime_dir(&vm.id),
            self.dirs().vm_data_dir(&vm.id),
        )
    }

    /// Fails unless the VM runs (running or paused) according to its live processes.
    pub fn require_running(&self, vm: &VmRecord) -> Result<(), MaqetError> {
        if matches!(vm.status, VmStatus::Running | VmStatus::Paused) {
            return Ok(());
        }
        Err(MaqetError::NotRunning {
            vm: vm.name.clone(),
            status: vm.status,
        })
    }

    /// The VM as it really is, with a new runner started for a QEMU whose runner is gone
    /// (re-adoption), and a QEMU the record does not name (its runner was killed before
    /// recording it, or the database was lost) recorded first. `locked` says whether the caller
    /// already holds the VM's lock.
    ///
    /// Without a scan of `/proc` when the record is already the whole truth (see
    /// [`Maqet::settled`]).
    pub fn reconcile(&self, vm: VmRecord, locked: bool) -> VmRecord {
        if self.settled(&vm, |id| self.dirs().vm_runtime_dir(id).exists()) {
            return vm;
        }
        self.reconcile_in(vm, locked, &self.census())
    }

    /// Every registered VM's summary as [`Maqet::reconcile`] would leave it, in the database's
    /// order.
    ///
    /// While every record is settled, it reads the summaries (no configuration), one listing
    /// of the runtime root and the liveness of the VMs that run, and nothing else; otherwise
    /// one scan of `/proc` serves all VMs, and VMs that live QEMUs name but the database lacks
    /// are restored from their record files first.
    pub(crate) fn list_reconciled(&self) -> Result<Vec<VmSummary>, MaqetError> {
        let db = self.db()?;
        let rows = db.list_vm_summaries()?;
        if let Some(with_dirs) = self.runtime_dir_ids() {
            // Sorted names, looked up by binary search: a few comparisons per row, where
            // hashing every id of thousands of rows cost more than the rest of the check.
            let has_dir = |id: &str| with_dirs.binary_search_by(|d| d.as_str().cmp(id)).is_ok();
            // Most listings find no runtime directory at all: then there is nothing to look up.
            // Row ids are unique and so are the names in a directory: every directory belongs
            // to a row when as many rows as directories have one.
            let all_known = with_dirs.is_empty()
                || rows.iter().filter(|vm| has_dir(&vm.id)).count() == with_dirs.len();
            if all_known
                && rows.iter().all(|vm| {
                    self.settled_parts(
                        &vm.id,
                        vm.status,
                        vm.qemu.as_ref(),
                        vm.runner.as_ref(),
                        |id| !with_dirs.is_empty() && has_dir(id),
                    )
                })
            {
                return Ok(rows);
            }
        }
        let census = self.census();
        self.restore_running_unknown(&census)?;
        Ok(db
            .list_vms_brief()?
            .into_iter()
            .map(|vm| VmSummary::from(self.reconcile_in(vm, false, &census)))
            .collect())
    }

    /// Whether supervising the VM would change nothing, so that no scan of `/proc` is needed:
    /// it runs and its recorded QEMU and runner both still run (a QEMU the record does not
    /// name is looked for only when the recorded one is gone, and a VM is re-adopted only when
    /// its runner is gone), or it does not run, names no QEMU and has no runtime directory
    /// (`has_runtime_dir(id)`): a runner creates that directory before it spawns QEMU and
    /// removes it only after that QEMU has exited, so no QEMU of the VM can be running.
    pub(crate) fn settled(&self, vm: &VmRecord, has_runtime_dir: impl Fn(&str) -> bool) -> bool {
        self.settled_parts(
            &vm.id,
            vm.status,
            vm.qemu.as_ref(),
            vm.runner.as_ref(),
            has_runtime_dir,
        )
    }

    /// [`Maqet::settled`] of the parts of a record it reads.
    fn settled_parts(
        &self,
        id: &str,
        status: VmStatus,
        qemu: Option<&ProcessIdentity>,
        runner: Option<&ProcessIdentity>,
        has_runtime_dir: impl Fn(&str) -> bool,
    ) -> bool {
        if matches!(status, VmStatus::Running | VmStatus::Paused) {
            self.qemu_of_vm_alive(id, qemu) && runner.is_some_and(maqet_runner::process::is_runner)
        } else {
            qemu.is_none() && !has_runtime_dir(id)
        }
    }

    /// The VM ids that have a runtime directory under `<runtime>/vms`, sorted, or `None` when
    /// that cannot be read (then every VM may have one).
    fn runtime_dir_ids(&self) -> Option<Vec<String>> {
        let root = self.dirs().runtime.join("vms");
        let entries = match std::fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Some(Vec::new()),
            Err(_) => return None,
        };
        let mut ids = Vec::new();
        for entry in entries {
            let name = entry.ok()?.file_name();
            // Anything else there (not a VM's directory) makes the caller look closer.
            ids.push(name.into_string().ok()?);
        }
        ids.sort_unstable();
        Some(ids)
    }

    /// One scan of `/proc` for QEMU and runner processes (see [`Census`]).
    pub(crate) fn census(&self) -> Census {
        Census::scan(&self.dirs().runtime.join("vms"))
    }

    /// [`Maqet::reconcile`] with processes found by an earlier scan (one scan for many VMs).
    pub(crate) fn reconcile_in(&self, vm: VmRecord, locked: bool, census: &Census) -> VmRecord {
        if self.unrecorded_qemu(&vm, census).is_none() && !self.is_orphaned(&vm) {
            return self.observe(vm);
        }
        let _lock = if locked {
            None
        } else {
            match self.lock_vm(&vm) {
                Ok(lock) => Some(lock),
                Err(_) => return self.observe(vm),
            }
        };
        let mut vm = match self.vm_record(&vm.id) {
            Ok(fresh) => fresh,
            Err(_) => return self.observe(vm),
        };
        if let Some(qemu) = self.unrecorded_qemu(&vm, census) {
            vm = self.record_found_qemu(vm, qemu);
        }
        if !self.is_orphaned(&vm) {
            return self.observe(vm);
        }
        if let (Some(qemu), Ok(exe)) = (
            vm.qemu,
            maqet_runner::find_runner_executable(self.runner_override()),
        ) {
            let spec = maqet_runner::AdoptSpec {
                vm_id: vm.id.clone(),
                vm_name: vm.name.clone(),
                db_path: self.dirs().state_db(),
                paths: self.vm_paths(&vm),
                qemu,
            };
            self.progress(&format!(
                "reconnecting to VM `{}` (its supervisor had stopped)",
                vm.name
            ));
            if let Err(e) = maqet_runner::adopt(&exe, &spec, Duration::from_secs(10)) {
                tracing::warn!("could not re-adopt VM `{}`: {e}", vm.name);
            }
        }
        match self.vm_record(&vm.id) {
            Ok(fresh) => self.observe(fresh),
            Err(_) => self.observe(vm),
        }
    }

    /// A live QEMU of this VM that its record does not name, when no runner is busy starting
    /// it (a runner records its QEMU right after spawning it).
    pub(crate) fn unrecorded_qemu(
        &self,
        vm: &VmRecord,
        census: &Census,
    ) -> Option<ProcessIdentity> {
        let found = census.qemus_in(&self.vm_paths(vm).runtime_dir);
        let first = *found.first()?;
        if vm.qemu.is_some_and(|q| found.contains(&q)) && self.qemu_alive(vm) {
            return None;
        }
        if census.runner_for(&vm.id).is_some() {
            // A live runner works for this VM; it records its QEMU right after spawning it.
            return None;
        }
        Some(first)
    }

    /// Records a QEMU found running for the VM (status `running`, no runner yet).
    fn record_found_qemu(&self, vm: VmRecord, qemu: ProcessIdentity) -> VmRecord {
        let paths = self.vm_paths(&vm);
        tracing::warn!(vm = %vm.name, pid = qemu.pid, "found a QEMU the state database did not record");
        let update = RuntimeUpdate {
            status: VmStatus::Running,
            reason: Some(format!(
                "QEMU pid {} was found running without a record (its runner died before recording it)",
                qemu.pid
            )),
            qemu: Some(qemu),
            runner: None,
            qmp_socket: Some(paths.qmp_socket()),
            console_socket: Some(paths.console_socket()),
            runtime_dir: Some(paths.runtime_dir.clone()),
        };
        match self
            .db()
            .and_then(|db| Ok(db.set_runtime(&vm.id, &update)?))
        {
            Ok(()) => self.vm_record(&vm.id).unwrap_or(vm),
            Err(err) => {
                tracing::warn!(vm = %vm.name, "cannot record the QEMU found running: {err}");
                vm
            }
        }
    }

    /// The error for a VM whose QEMU runs without a runner that could take it over.
    pub(crate) fn orphan_error(&self, vm: &VmRecord, qemu: &ProcessIdentity) -> MaqetError {
        MaqetError::OrphanRunning {
            vm: vm.name.clone(),
            pid: qemu.pid,
        }
    }

    /// Whether QEMU runs but its runner does not.
    fn is_orphaned(&self, vm: &VmRecord) -> bool {
        matches!(vm.status, VmStatus::Running | VmStatus::Paused)
            && self.qemu_alive(vm)
            && !runner_alive(vm)
    }

    /// Whether the recorded QEMU still runs and really is this VM's QEMU (same PID, same start
    /// time, and a command line naming this VM's QMP socket).
    pub fn qemu_alive(&self, vm: &VmRecord) -> bool {
        self.qemu_of_vm_alive(&vm.id, vm.qemu.as_ref())
    }

    /// [`Maqet::qemu_alive`] of VM `id` whose record names `qemu`.
    fn qemu_of_vm_alive(&self, id: &str, qemu: Option<&ProcessIdentity>) -> bool {
        qemu.is_some_and(|q| {
            let socket = VmPaths::new(self.dirs().vm_runtime_dir(id), self.dirs().vm_data_dir(id))
                .qemu_qmp_socket();
            maqet_runner::process::is_vm_qemu(q, &socket)
        })
    }

    /// Looks up a VM that must be running, re-adopting it if its runner is gone.
    pub fn running_vm(&self, ident: &str) -> Result<VmRecord, MaqetError> {
        let record = self.reconcile(self.vm_record(ident)?, false);
        self.require_running(&record)?;
        Ok(record)
    }
}

/// Whether the recorded runner still runs and is a `maqet-runner`.
pub fn runner_alive(vm: &VmRecord) -> bool {
    vm.runner
        .as_ref()
        .is_some_and(maqet_runner::process::is_runner)
}
