//! `cleanup`: VMs recorded as running whose QEMU is gone.

use std::fmt::Write as _;
use std::time::Duration;

use maqet_macros::{api_method, api_requests};
use maqet_runner::process::{StopSignal, is_alive, send_signal};
use maqet_state::{RuntimeUpdate, VmRecord, VmStatus};
use serde::Serialize;

use crate::api::maintenance::runtime_dir_busy;
use crate::registry::CommandOutput;
use crate::{Maqet, MaqetError};

/// One VM `cleanup` looked at.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupItem {
    /// VM name.
    pub name: String,
    /// VM id.
    pub vm_id: String,
    /// The status in the database.
    pub recorded_status: VmStatus,
    /// `mark-stopped` (QEMU is gone), `readopt` (QEMU runs without its runner: a new runner
    /// takes over) or `stop-qemu` (the same with `--force`: QEMU is stopped).
    pub action: &'static str,
    /// Whether the action was carried out (false with `--dry-run`).
    pub done: bool,
    /// Why the VM needs cleaning.
    pub reason: String,
}

/// `cleanup`: what was (or would be) cleaned.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// How many VMs were cleaned.
    pub cleaned: usize,
    /// The VMs that need (or needed) cleaning.
    pub vms: Vec<CleanupItem>,
}

impl CommandOutput for CleanupReport {
    fn human(&self) -> Option<String> {
        if self.vms.is_empty() {
            return Some("No cleanup needed - all VMs are healthy.".into());
        }
        let mut out = format!("Found {} VM(s) requiring cleanup:", self.vms.len());
        for vm in &self.vms {
            let what = match (vm.action, vm.done) {
                ("mark-stopped", true) => "marked stopped",
                ("mark-stopped", false) => "would be marked stopped",
                ("stop-qemu", true) => "QEMU stopped, marked stopped",
                ("stop-qemu", false) => "QEMU would be stopped",
                ("readopt", true) => "a new maqet runner watches it again",
                ("readopt", false) if self.dry_run => {
                    "a new maqet runner would watch it (or --force stops it)"
                }
                _ => "could not start a new runner for it; `maqet cleanup --force` stops its QEMU",
            };
            let _ = write!(
                out,
                "\n  - {} ({}): {}; {what}",
                vm.name, vm.recorded_status, vm.reason
            );
        }
        if self.dry_run {
            out.push_str("\nDry run: nothing was changed.");
        }
        Some(out)
    }
}

#[api_requests]
impl Maqet {
    /// Reset VMs recorded as running whose QEMU is gone.
    ///
    /// Such VMs are set to `stopped` with a reason, and their runtime directory is removed.
    /// A QEMU still running without its maqet runner gets a new runner, or is stopped with
    /// `--force`. `--dry-run` only shows what would be done.
    #[api_method(category = "maintenance", examples = ["maqet cleanup --dry-run", "maqet cleanup", "maqet cleanup --force"])]
    pub fn cleanup(
        &self,
        #[arg(help = "Show what would be cleaned without changing anything")] dry_run: bool,
        #[arg(help = "Also stop QEMU processes whose maqet runner has exited")] force: bool,
    ) -> Result<CleanupReport, MaqetError> {
        self.run_cleanup(dry_run, force)
    }

    pub(crate) fn run_cleanup(
        &self,
        dry_run: bool,
        force: bool,
    ) -> Result<CleanupReport, MaqetError> {
        let db = self.db()?;
        let mut vms = Vec::new();
        for (vm, unmanaged, reason) in self.cleanup_candidates(true)? {
            let action = match (unmanaged, force) {
                (false, _) => "mark-stopped",
                (true, true) => "stop-qemu",
                (true, false) => "readopt",
            };
            let mut done = false;
            if !dry_run && action == "readopt" {
                let fresh = self.reconcile(vm.clone(), false);
                done = crate::liveness::runner_alive(&fresh);
            } else if !dry_run {
                let why = if unmanaged {
                    if let Some(qemu) = vm.qemu.as_ref() {
                        stop_process(qemu)?;
                    }
                    "stopped by `maqet cleanup --force`: its maqet runner had exited"
                } else {
                    "QEMU had exited while no maqet runner watched it (found by `maqet cleanup`)"
                };
                let update = RuntimeUpdate::cleared(VmStatus::Stopped).with_reason(why);
                // A QEMU found without a record leaves the row in whatever status it had.
                let expected: &[VmStatus] = if unmanaged {
                    &VmStatus::ALL
                } else {
                    &[VmStatus::Running, VmStatus::Paused]
                };
                done = db.compare_and_set_status(&vm.id, expected, &update)?;
                let dir = self.dirs().vm_runtime_dir(&vm.id);
                if done && dir.is_dir() && !runtime_dir_busy(self, &vm.id, &dir) {
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
            vms.push(CleanupItem {
                name: vm.name,
                vm_id: vm.id,
                recorded_status: vm.status,
                action,
                done,
                reason,
            });
        }
        Ok(CleanupReport {
            dry_run,
            cleaned: vms.iter().filter(|v| v.done).count(),
            vms,
        })
    }

    /// VMs recorded as running or paused that need cleaning: (record, QEMU runs unmanaged, reason).
    /// `include_unmanaged` adds those whose QEMU still runs without a runner.
    pub(crate) fn cleanup_candidates(
        &self,
        include_unmanaged: bool,
    ) -> Result<Vec<(VmRecord, bool, String)>, MaqetError> {
        let mut out = Vec::new();
        let census = self.census();
        for mut vm in self.db()?.list_vms(None)? {
            if let Some(qemu) = self.unrecorded_qemu(&vm, &census) {
                if include_unmanaged {
                    let reason = format!(
                        "QEMU (pid {}) runs but the state database does not record it (its runner died before recording it)",
                        qemu.pid
                    );
                    vm.qemu = Some(qemu);
                    vm.runner = None;
                    out.push((vm, true, reason));
                }
                continue;
            }
            if !matches!(vm.status, VmStatus::Running | VmStatus::Paused) {
                continue;
            }
            let qemu_alive = self.qemu_alive(&vm);
            let runner_dead = !crate::liveness::runner_alive(&vm);
            if !qemu_alive {
                let reason = match vm.qemu {
                    Some(q) => format!("QEMU (pid {}) is no longer running", q.pid),
                    None => "no QEMU process is recorded".into(),
                };
                out.push((vm, false, reason));
            } else if runner_dead && include_unmanaged {
                let reason = format!(
                    "QEMU (pid {}) runs but its maqet runner has exited",
                    vm.qemu.map_or(0, |q| q.pid)
                );
                out.push((vm, true, reason));
            }
        }
        Ok(out)
    }
}

/// SIGTERM, up to 10 s for the process to go, then SIGKILL.
fn stop_process(process: &maqet_state::ProcessIdentity) -> Result<(), MaqetError> {
    let signal = |s| {
        send_signal(process, s)
            .map_err(|e| MaqetError::io(format!("cannot signal QEMU (pid {})", process.pid), e))
    };
    signal(StopSignal::Terminate)?;
    for _ in 0..100 {
        if !is_alive(process) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(StopSignal::Kill)?;
    Ok(())
}
