//! Running VMs: start, stop, inspect.

use std::time::Duration;

use maqet_macros::{api_method, api_requests};
use maqet_runner::{LaunchSpec, StopMethod, StopOptions};
use maqet_state::{StorageEntry, VmRecord, VmStatus};
use serde::Serialize;

use crate::config::{ShutdownVia, VmConfig};
use crate::registry::CommandOutput;
use crate::results::VmStatusReport;
use crate::{Maqet, MaqetError};

/// How long `start` waits for QEMU to answer on QMP.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `start`: the running VM.
#[derive(Debug, Clone, Serialize)]
pub struct StartReport {
    /// The VM, now running.
    #[serde(flatten)]
    pub vm: VmStatusReport,
    /// Whether the guest's writes are thrown away at stop (`--ephemeral`).
    pub ephemeral: bool,
    /// Whether the guest was restored from a saved state instead of booted (`stop --save`,
    /// `--from-state`).
    pub restored: bool,
    /// Disk images created for this start.
    pub created_files: Vec<std::path::PathBuf>,
    /// The runner died during start-up and a new one took over the running QEMU (only in the
    /// JSON when true): the VM runs, supervised, as after a plain start.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub supervisor_restarted: bool,
}

impl CommandOutput for StartReport {
    fn human(&self) -> Option<String> {
        let mut text = format!(
            "{} VM {} (pid {})",
            if self.restored { "restored" } else { "started" },
            self.vm.name,
            self.vm.pid.map_or_else(|| "?".into(), |p| p.to_string())
        );
        for f in &self.created_files {
            text.push_str(&format!("\ncreated {}", f.display()));
        }
        if self.supervisor_restarted {
            text.push_str(&format!(
                "\nits supervisor died during start-up; a new one took over (runner pid {})",
                self.vm
                    .runner_pid
                    .map_or_else(|| "?".into(), |p| p.to_string())
            ));
        }
        Some(text)
    }
}

/// `stop`: how the VM stopped.
#[derive(Debug, Clone, Serialize)]
pub struct StopReport {
    /// The VM, now stopped.
    #[serde(flatten)]
    pub vm: VmStatusReport,
    /// The step that ended QEMU: `already-stopped`, `acpi`, `agent`, `quit`, `sigterm`,
    /// `sigkill`, or `saved` (`--save`, `--save-as`).
    pub method: StopMethod,
    /// Whether maqet ended QEMU itself (`quit`, SIGTERM, SIGKILL: `--force`, or a guest that
    /// did not power off within `--timeout`) instead of the guest powering off when asked.
    pub forced: bool,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u64,
}

impl CommandOutput for StopReport {
    fn human(&self) -> Option<String> {
        Some(match self.method {
            StopMethod::AlreadyStopped => format!("VM {} is not running", self.vm.name),
            StopMethod::Saved => format!(
                "saved VM {} ({:.1} s)",
                self.vm.name,
                self.elapsed_ms as f64 / 1000.0
            ),
            method => format!(
                "stopped VM {} ({}{}, {:.1} s)",
                self.vm.name,
                method,
                if self.forced { ", forced" } else { "" },
                self.elapsed_ms as f64 / 1000.0
            ),
        })
    }
}

#[api_requests]
impl Maqet {
    /// Start a VM and wait until QEMU answers on QMP.
    ///
    /// Missing qcow2/raw images with a `size` are created first (under the VM's data
    /// directory unless the config names a file). With `--ephemeral` QEMU runs with `-snapshot`:
    /// nothing the guest writes reaches the disks.
    ///
    /// A VM saved by `stop --save` is restored instead of booted: the guest runs on where it
    /// was, and the saved state is removed. `--fresh` discards it and boots anew. A config
    /// or disk changed since the save refuses the restore. `--ephemeral --from-state NAME`
    /// restores a state kept by `stop --save-as NAME`, which stays for the next run.
    #[api_method(category = "vm", python_params = ["vm as vm_id"], python_returns = "started_vm", examples = ["maqet start web", "maqet start web --ephemeral --format json", "maqet start web --fresh", "maqet start web --ephemeral --from-state booted"])]
    pub fn start(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(help = "Throw away everything the guest writes to its disks (QEMU -snapshot)")]
        ephemeral: bool,
        #[arg(help = "Discard the state saved by `stop --save` and boot anew")] fresh: bool,
        #[arg(
            help = "Restore the state saved by `stop --save-as NAME` (needs --ephemeral; the state is kept)",
            value_name = "NAME"
        )]
        from_state: Option<String>,
    ) -> Result<StartReport, MaqetError> {
        let record = self.vm_record(&vm)?;
        let _lock = self.lock_vm(&record)?;
        let record = self.reconcile(self.vm_record(&record.id)?, true);
        if matches!(record.status, VmStatus::Running | VmStatus::Paused)
            && let Some(qemu) = record.qemu
            && !crate::liveness::runner_alive(&record)
        {
            return Err(self.orphan_error(&record, &qemu));
        }
        if matches!(record.status, VmStatus::Running | VmStatus::Paused) {
            return Err(MaqetError::AlreadyRunning {
                vm: record.name,
                pid: record.qemu.map(|p| p.pid),
            });
        }
        if record.config.as_object().is_none_or(|m| m.is_empty()) {
            return Err(MaqetError::invalid(format!(
                "VM `{}` has no configuration yet; give it one with `maqet apply {} CONFIG.yaml`",
                record.name, record.name
            )));
        }
        let restore = self.plan_restore(&record, fresh, ephemeral, from_state.as_deref())?;
        crate::host_ports::check_free(&record.name, &VmConfig::from_value(&record.config).ports)?;
        let created_files = self.prepare_storage(&record)?;
        self.prepare_first_boot(&record)?;
        let mut qemu_argv = self.qemu_argv(&record)?;
        let mut created_files = created_files;
        created_files.extend(self.prepare_firmware(&record, &qemu_argv)?);
        if ephemeral {
            qemu_argv.push("-snapshot".into());
        }
        if restore.is_some() {
            qemu_argv.extend(["-incoming".into(), "defer".into()]);
        }
        let paths = self.vm_paths(&record);
        // Never a second QEMU: one the record does not name may still run for this VM. Only
        // while its runtime dir exists: a runner creates it before spawning QEMU and removes it
        // after QEMU has exited, so without it no scan of `/proc` is needed.
        if paths.runtime_dir.exists()
            && let Some(qemu) = self.census().qemus_in(&paths.runtime_dir).first()
        {
            return Err(self.orphan_error(&record, qemu));
        }
        self.check_launch(&qemu_argv, &paths)?;
        crate::dirs::create_private_dir(&paths.data_dir)?;
        crate::dirs::create_private_dir(&self.dirs().runtime)?;
        let spec = LaunchSpec {
            vm_id: record.id.clone(),
            vm_name: record.name.clone(),
            db_path: self.dirs().state_db(),
            paths,
            qemu_argv,
            swtpm: super::firmware::wants_tpm(&record.config),
        };
        let exe = maqet_runner::find_runner_executable(self.runner_override())?;
        self.progress(&format!("starting VM `{}`", record.name));
        tracing::info!(vm = %record.name, runner = %exe.display(), "starting VM");
        tracing::debug!(argv = ?spec.qemu_argv, "QEMU command line");
        let started = match maqet_runner::start(&exe, &spec, START_TIMEOUT) {
            Ok(started) => started,
            Err(err @ maqet_runner::RunnerError::RunnerDied { .. }) => {
                // The QEMU it spawned may run on: a new runner takes it over, as any command would.
                let now = self.reconcile(self.vm_record(&record.id)?, true);
                if !matches!(now.status, VmStatus::Running | VmStatus::Paused)
                    || !crate::liveness::runner_alive(&now)
                {
                    return Err(err.into());
                }
                tracing::warn!(vm = %record.name, "the runner died during start-up; a new runner took over the running QEMU");
                if let Some(plan) = &restore {
                    self.finish_restore(&record, plan)?;
                }
                return Ok(StartReport {
                    vm: VmStatusReport::of(&self.observe(self.vm_record(&record.id)?)),
                    ephemeral,
                    restored: restore.is_some(),
                    created_files,
                    supervisor_restarted: true,
                });
            }
            Err(err) => {
                let err = self.explain_start_failure(&record, err);
                if let Some(plan) = &restore {
                    self.keep_saved_status(&record, plan);
                }
                return Err(err);
            }
        };
        if let Some(plan) = &restore {
            self.finish_restore(&record, plan)?;
        }
        tracing::info!(vm = %record.name, qemu_pid = started.qemu.pid, runner_pid = started.runner.pid, "VM running");
        let record = self.observe(self.vm_record(&record.id)?);
        let mut vm = VmStatusReport::of(&record);
        vm.ssh = self.ssh_summary(&record);
        Ok(StartReport {
            vm,
            ephemeral,
            restored: restore.is_some(),
            created_files,
            supervisor_restarted: false,
        })
    }

    /// Stop a VM: ACPI power-down, then quit, SIGTERM and SIGKILL as each step times out.
    ///
    /// The guest gets `--timeout` seconds to shut down: the ACPI power button is pressed at once
    /// and again every 5 s, and with `guest_agent: true` an answering guest agent is asked to
    /// power off too. `--force` skips both. The result says which step stopped the VM
    /// (`method`) and whether maqet had to end QEMU itself (`forced`).
    ///
    /// `--save` instead pauses the guest, writes its memory and device state to a file in the
    /// VM's data directory and ends QEMU (`method`: `saved`); the status becomes `saved` and
    /// the next `start` brings the guest back where it was. `--save-as NAME` writes a named
    /// state that `start --ephemeral --from-state NAME` restores any number of times.
    #[api_method(
        category = "vm",
        python_params = ["vm as vm_id", "force", "timeout", "save"],
        python_returns = "stopped_vm",
        examples = ["maqet stop web", "maqet stop web --timeout 60", "maqet stop web --force", "maqet stop web --save", "maqet stop web --save-as booted"]
    )]
    pub fn stop(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(help = "Skip the graceful power-down")] force: bool,
        #[arg(help = "Seconds the guest gets to power down", default = "30")] timeout: Duration,
        #[arg(
            help = "Power off through the guest agent (`guest-shutdown`) instead of ACPI; also `shutdown_via: agent`"
        )]
        agent: bool,
        #[arg(
            help = "Save the guest's memory and device state instead of powering it off; the next `start` restores it"
        )]
        save: bool,
        #[arg(
            help = "Save the guest's state as NAME for `start --ephemeral --from-state NAME`, then end QEMU",
            value_name = "NAME"
        )]
        save_as: Option<String>,
    ) -> Result<StopReport, MaqetError> {
        let record = self.vm_record(&vm)?;
        let _lock = self.lock_vm(&record)?;
        let record = self.reconcile(self.vm_record(&record.id)?, true);
        if save || save_as.is_some() {
            let slot = save_slot(save, save_as.as_deref(), force, agent)?;
            let elapsed = self.save_state(&record, &slot)?;
            let record = self.observe(self.vm_record(&record.id)?);
            return Ok(StopReport {
                vm: VmStatusReport::of(&record),
                method: StopMethod::Saved,
                forced: false,
                elapsed_ms: elapsed.as_millis() as u64,
            });
        }
        let via_agent =
            agent || VmConfig::from_value(&record.config).shutdown_via == ShutdownVia::Agent;
        let (method, elapsed) = if via_agent && !force {
            self.stop_via_agent(&record, timeout)?
        } else {
            self.stop_record(&record, force, timeout)?
        };
        let record = self.observe(self.vm_record(&record.id)?);
        Ok(StopReport {
            vm: VmStatusReport::of(&record),
            method,
            forced: method.forced(),
            elapsed_ms: elapsed.as_millis() as u64,
        })
    }

    /// Stops a VM's processes (the caller holds the VM lock) and makes sure the record says so.
    pub(crate) fn stop_record(
        &self,
        record: &VmRecord,
        force: bool,
        timeout: Duration,
    ) -> Result<(StopMethod, Duration), MaqetError> {
        let Some(qemu) = record.qemu.filter(|_| self.qemu_alive(record)) else {
            if matches!(record.status, VmStatus::Running | VmStatus::Paused) {
                self.db()?.set_runtime(
                    &record.id,
                    &maqet_state::RuntimeUpdate::cleared(VmStatus::Stopped)
                        .with_reason("QEMU was already gone"),
                )?;
            }
            self.remove_stale_run_files(record);
            return Ok((StopMethod::AlreadyStopped, Duration::ZERO));
        };
        let socket = record
            .qmp_socket
            .clone()
            .unwrap_or_else(|| self.vm_paths(record).qmp_socket());
        let agent_socket =
            super::guest::wants_agent(&record.config).then(|| self.vm_paths(record).agent_socket());
        let opts = StopOptions {
            force,
            timeout,
            agent_socket,
            ..StopOptions::default()
        };
        let outcome = self.block_on(maqet_runner::stop(
            &socket,
            &qemu,
            record.runner.as_ref(),
            &opts,
            &mut |msg| self.progress(msg),
        ))??;
        tracing::info!(vm = %record.name, method = %outcome.method, elapsed_ms = outcome.elapsed.as_millis() as u64, "VM stopped");
        let now = self.vm_record(&record.id)?;
        let reason = format!("host stop ({})", outcome.method);
        match now.status {
            VmStatus::Running | VmStatus::Paused => self.db()?.set_runtime(
                &record.id,
                &maqet_state::RuntimeUpdate::cleared(VmStatus::Stopped).with_reason(reason),
            )?,
            // The runner saw the guest power off; say that the host asked for it.
            VmStatus::Stopped if outcome.method != StopMethod::AlreadyStopped => {
                self.db()?
                    .set_status(&record.id, VmStatus::Stopped, Some(&reason))?;
            }
            _ => {}
        }
        Ok((outcome.method, outcome.elapsed))
    }

    /// Removes what a run that ended without its runner (a runner killed before QEMU started,
    /// say) left in the runtime dir, unless a live QEMU or runner still names it.
    fn remove_stale_run_files(&self, record: &VmRecord) {
        let paths = self.vm_paths(record);
        if self
            .census()
            .uses_runtime_dir(&paths.runtime_dir, &record.id)
        {
            return;
        }
        for file in paths.run_files(true) {
            if let Err(err) = std::fs::remove_file(&file)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %file.display(), %err, "cannot remove a stale runtime file");
            }
        }
    }

    /// Creates missing disk images and records every file the VM uses.
    fn prepare_storage(&self, vm: &VmRecord) -> Result<Vec<std::path::PathBuf>, MaqetError> {
        self.prepare_drive_storage(vm, None)
    }

    /// [`Maqet::prepare_storage`] for one drive (`only`) or all: the one provisioning path for
    /// `start` and for commands that need an image before the first start (`snapshot create`).
    /// The caller holds the VM lock.
    pub(crate) fn prepare_drive_storage(
        &self,
        vm: &VmRecord,
        only: Option<&str>,
    ) -> Result<Vec<std::path::PathBuf>, MaqetError> {
        let mut drives = VmConfig::from_value(&vm.config).storage;
        maqet_storage::assign_default_files(&mut drives, &self.dirs().vm_data_dir(&vm.id));
        let qemu_img = maqet_storage::QemuImg::new();
        let db = self.db()?;
        let registered = db.storage_for_vm(&vm.id)?;
        let mut created = Vec::new();
        for drive in drives
            .iter()
            .filter(|d| only.is_none_or(|name| d.name == name))
        {
            if drive.kind == maqet_storage::DriveKind::Virtfs {
                maqet_storage::prepare_image(&qemu_img, drive)?;
                continue;
            }
            let Some(path) = drive.file.clone() else {
                continue;
            };
            let made = if drive.from.is_some() {
                let images = super::image::image_cache();
                let what = format!("drive {}", drive.name);
                maqet_storage::prepare_drive(
                    &qemu_img,
                    drive,
                    &images,
                    &mut self.fetch_progress(&what),
                )?
            } else {
                maqet_storage::prepare_image(&qemu_img, drive)?
            };
            let ours = made.is_some();
            if ours {
                created.push(path.clone());
            }
            let already = registered.iter().any(|e| e.path == path);
            if ours || !already {
                db.register_storage(&StorageEntry {
                    vm_id: vm.id.clone(),
                    path: path.clone(),
                    role: "disk".into(),
                    created_by_maqet: ours,
                    size_bytes: std::fs::metadata(&path).ok().map(|m| m.len()),
                    created_at: String::new(),
                })?;
            }
        }
        Ok(created)
    }
}

/// Which state `stop --save` / `--save-as NAME` writes; refuses the options a save ignores.
fn save_slot(
    save: bool,
    save_as: Option<&str>,
    force: bool,
    agent: bool,
) -> Result<crate::saved_state::StateSlot, MaqetError> {
    use crate::SavedStateError;
    let option = if save { "--save" } else { "--save-as" };
    let conflict = |other: &str| {
        MaqetError::from(SavedStateError::SaveConflict {
            option: option.into(),
            other: other.into(),
        })
    };
    if save && save_as.is_some() {
        return Err(conflict("--save-as"));
    }
    if force {
        return Err(conflict("--force"));
    }
    if agent {
        return Err(conflict("--agent"));
    }
    match save_as {
        Some(name) => Ok(crate::saved_state::StateSlot::named(name)?),
        None => Ok(crate::saved_state::StateSlot::Managed),
    }
}
