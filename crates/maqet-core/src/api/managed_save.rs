//! Saving a running VM's memory and device state to a file and bringing it back: the managed
//! save (`stop --save`, restored by the next `start`) and named states (`stop --save-as NAME`,
//! restored any number of times by `start --ephemeral --from-state NAME`).
//!
//! Saving pauses the guest, has QEMU migrate it into a temporary file (`exec:cat`; the
//! installed QEMU 7.2 has no `file:` migration), renames the file once QEMU reports the
//! migration completed and ends QEMU. Restoring starts QEMU with `-incoming defer` under the
//! same command line, feeds it the file with `migrate-incoming` and lets the guest run on. See
//! docs/decisions/2026-12-07-managed-save-by-migration.md and [`crate::saved_state`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use maqet_state::{VmRecord, VmStatus};
use serde_json::json;

use super::migration_stream::{last_qemu_line, migrate_in, wait_outgoing, without_incoming};
use crate::saved_state::{DiskPrint, StateDescription, StateSlot, shell_quoted};
use crate::{Maqet, MaqetError, SavedStateError};

/// How long a failed restore waits for the runner to record QEMU's end.
const RUNNER_GONE_WAIT: Duration = Duration::from_secs(5);
/// The transfer limit set for a save: as fast as the disk takes it (QEMU's default is
/// 128 MiB/s, tuned for networks).
const SAVE_BANDWIDTH: u64 = 1 << 40;

/// A restore that `start` is to do, checked before QEMU is launched.
#[derive(Debug, Clone)]
pub(crate) struct PlannedRestore {
    /// Which state.
    pub(crate) slot: StateSlot,
    /// Its image.
    pub(crate) image: PathBuf,
    /// Whether the guest ran at the save: QEMU loads it paused, and the restore resumes it.
    pub(crate) resume: bool,
}

impl Maqet {
    /// Saves `record`'s running VM into `slot` and ends its QEMU; the caller holds the VM lock.
    /// On a failure before QEMU ended the VM runs on as before.
    pub(crate) fn save_state(
        &self,
        record: &VmRecord,
        slot: &StateSlot,
    ) -> Result<Duration, MaqetError> {
        let began = Instant::now();
        let qemu = match record.qemu {
            Some(qemu)
                if matches!(record.status, VmStatus::Running | VmStatus::Paused)
                    && self.qemu_alive(record) =>
            {
                qemu
            }
            _ => {
                return Err(MaqetError::NotRunning {
                    vm: record.name.clone(),
                    status: record.status,
                });
            }
        };
        let unsupported = |why: &str| {
            MaqetError::from(SavedStateError::Unsupported {
                vm: record.name.clone(),
                why: why.to_owned(),
            })
        };
        if super::firmware::wants_tpm(&record.config) {
            return Err(unsupported(
                "its TPM's state lives in swtpm, which maqet does not save",
            ));
        }
        let argv = maqet_runner::process::cmdline(qemu.pid)
            .ok_or_else(|| unsupported("its QEMU's command line cannot be read"))?;
        if argv.iter().any(|a| a == "-snapshot") {
            return Err(unsupported(
                "it runs with `--ephemeral`, so its disk writes end with QEMU and a restored guest would miss them",
            ));
        }
        let argv = without_incoming(argv);
        let data_dir = self.dirs().vm_data_dir(&record.id);
        if matches!(slot, StateSlot::Named(_)) {
            crate::dirs::create_private_dir(&crate::saved_state::states_dir(&data_dir))?;
        }
        let image = slot.image(&data_dir);
        let mut file = crate::atomic_file::AtomicFile::create(&image)?;
        {
            use std::os::unix::fs::PermissionsExt;
            file.file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| MaqetError::io(format!("cannot write {}", image.display()), e))?;
        }
        let target = format!("exec:cat > {}", shell_quoted(file.temp_path()));
        self.progress(&format!("saving VM `{}`", record.name));
        let was_running = self.block_on(self.migrate_out(record, &target))??;
        // The guest is paused and its disks are flushed and released: end QEMU.
        self.stop_record(record, true, Duration::from_secs(10))?;
        let disks = self.disk_prints(record);
        let description_path = slot.description(&data_dir);
        StateDescription::new(was_running, argv, disks).write(&description_path)?;
        if let Err(err) = file.commit() {
            let _ = std::fs::remove_file(&description_path);
            return Err(err);
        }
        if *slot == StateSlot::Managed {
            self.db()?.set_status(
                &record.id,
                VmStatus::Saved,
                Some("saved by `maqet stop --save`"),
            )?;
        }
        tracing::info!(vm = %record.name, image = %image.display(), elapsed_ms = began.elapsed().as_millis() as u64, "VM state saved");
        Ok(began.elapsed())
    }

    /// Pauses the guest and has QEMU write its state to `target`; whether the guest ran. On any
    /// failure resumes a guest that ran and says why.
    async fn migrate_out(&self, record: &VmRecord, target: &str) -> Result<bool, MaqetError> {
        let qmp = self.qmp_client(record).await?;
        let was_running = qmp.query_status().await?.running;
        let outcome = async {
            if was_running {
                qmp.stop().await.map_err(|e| e.to_string())?;
            }
            // Best effort: an older QEMU without the parameter still saves, only slower.
            let _ = qmp
                .execute(
                    "migrate-set-parameters",
                    Some(json!({ "max-bandwidth": SAVE_BANDWIDTH })),
                )
                .await;
            qmp.execute("migrate", Some(json!({ "uri": target })))
                .await
                .map_err(|e| e.to_string())?;
            wait_outgoing(&qmp).await
        }
        .await;
        match outcome {
            Ok(()) => Ok(was_running),
            Err(why) => {
                if was_running && let Err(err) = qmp.cont().await {
                    tracing::warn!(vm = %record.name, %err, "cannot resume the guest after a failed save");
                }
                Err(SavedStateError::SaveFailed {
                    vm: record.name.clone(),
                    why,
                }
                .into())
            }
        }
    }

    /// The prints of the VM's disk files (and UEFI variable store) that exist now.
    pub(crate) fn disk_prints(&self, record: &VmRecord) -> Vec<DiskPrint> {
        let data_dir = self.dirs().vm_data_dir(&record.id);
        let mut drives = crate::config::VmConfig::from_value(&record.config).storage;
        maqet_storage::assign_default_files(&mut drives, &data_dir);
        let mut files: Vec<PathBuf> = drives
            .into_iter()
            .filter(|d| d.kind != maqet_storage::DriveKind::Virtfs)
            .filter_map(|d| d.file)
            .collect();
        files.push(crate::firmware::nvram_path(&data_dir));
        files.iter().filter_map(|f| DiskPrint::of(f)).collect()
    }

    /// Decides whether `start` restores a state, discarding the managed save for `fresh`, and
    /// checks that the state still fits the VM's config and disks; the caller holds the lock.
    pub(crate) fn plan_restore(
        &self,
        record: &VmRecord,
        fresh: bool,
        ephemeral: bool,
        from_state: Option<&str>,
    ) -> Result<Option<PlannedRestore>, MaqetError> {
        let data_dir = self.dirs().vm_data_dir(&record.id);
        let managed_image = StateSlot::Managed.image(&data_dir);
        let slot = match from_state {
            Some(_) if fresh => return Err(SavedStateError::FreshWithFromState.into()),
            Some(name) if !ephemeral => {
                return Err(SavedStateError::FromStateNeedsEphemeral {
                    name: name.to_owned(),
                }
                .into());
            }
            Some(_) if managed_image.exists() || record.status == VmStatus::Saved => {
                return Err(SavedStateError::ManagedSavePending {
                    vm: record.name.clone(),
                }
                .into());
            }
            Some(name) => {
                let slot = StateSlot::named(name)?;
                if !slot.image(&data_dir).is_file() {
                    return Err(SavedStateError::NoSuchState {
                        vm: record.name.clone(),
                        name: name.to_owned(),
                        states: crate::saved_state::named_states(&data_dir),
                    }
                    .into());
                }
                slot
            }
            None if fresh => {
                self.discard_managed_save(record)?;
                return Ok(None);
            }
            None if managed_image.exists() => StateSlot::Managed,
            None if record.status == VmStatus::Saved => {
                return Err(SavedStateError::ImageMissing {
                    vm: record.name.clone(),
                    image: managed_image,
                }
                .into());
            }
            None => return Ok(None),
        };
        let description = StateDescription::read(&record.name, &slot.description(&data_dir))?;
        let argv = self.qemu_argv(record)?;
        if let Some(difference) = description.argv_difference(&argv) {
            return Err(SavedStateError::ConfigChanged {
                vm: record.name.clone(),
                difference,
            }
            .into());
        }
        if let Some((disk, what)) = description.changed_disk() {
            let way_out = match &slot {
                StateSlot::Managed => format!(
                    "`maqet start {} --fresh` discards the saved state and boots anew",
                    record.name
                ),
                StateSlot::Named(name) => format!(
                    "save the state again (`maqet stop {} --save-as {name}` while it runs)",
                    record.name
                ),
            };
            return Err(SavedStateError::DiskChanged {
                vm: record.name.clone(),
                disk,
                what,
                way_out,
            }
            .into());
        }
        Ok(Some(PlannedRestore {
            image: slot.image(&data_dir),
            slot,
            resume: description.running,
        }))
    }

    /// Removes the managed save (if any) and a `saved` status with it.
    pub(crate) fn discard_managed_save(&self, record: &VmRecord) -> Result<(), MaqetError> {
        StateSlot::Managed.discard(&self.dirs().vm_data_dir(&record.id))?;
        if record.status == VmStatus::Saved {
            self.db()?
                .set_status(&record.id, VmStatus::Stopped, Some("saved state discarded"))?;
        }
        Ok(())
    }

    /// Refuses a command that writes the disks of a VM with a managed save.
    pub(crate) fn refuse_if_saved(
        &self,
        record: &VmRecord,
        command: &str,
    ) -> Result<(), MaqetError> {
        let image = StateSlot::Managed.image(&self.dirs().vm_data_dir(&record.id));
        if record.status == VmStatus::Saved || image.exists() {
            return Err(SavedStateError::DisksPinned {
                vm: record.name.clone(),
                command: command.to_owned(),
            }
            .into());
        }
        Ok(())
    }

    /// After a restore whose QEMU did not start: the managed save is still there, so the
    /// status says `saved` again (not `failed`); a named state leaves the status alone.
    pub(crate) fn keep_saved_status(&self, record: &VmRecord, plan: &PlannedRestore) {
        if plan.slot != StateSlot::Managed {
            return;
        }
        let kept = self.db().and_then(|db| {
            Ok(db.set_status(
                &record.id,
                VmStatus::Saved,
                Some("QEMU did not start for the restore"),
            )?)
        });
        if let Err(err) = kept {
            tracing::warn!(vm = %record.name, %err, "cannot record the kept saved state");
        }
    }

    /// Feeds the planned state to the QEMU just started with `-incoming defer` and lets the
    /// guest run on; the managed save is removed once restored. On a failure QEMU is ended and
    /// the state kept.
    pub(crate) fn finish_restore(
        &self,
        record: &VmRecord,
        plan: &PlannedRestore,
    ) -> Result<(), MaqetError> {
        self.progress(&format!("restoring VM `{}`", record.name));
        let running = self.vm_record(&record.id)?;
        let source = format!("exec:cat {}", shell_quoted(&plan.image));
        let loaded = self.block_on(async {
            let qmp = self.qmp_client(&running).await?;
            Ok::<_, MaqetError>(migrate_in(&qmp, &source, plan.resume).await)
        })??;
        if let Err(why) = loaded {
            let now = self.vm_record(&record.id)?;
            if let Err(err) = self.stop_record(&now, true, Duration::from_secs(5)) {
                tracing::warn!(vm = %record.name, %err, "cannot end QEMU after a failed restore");
            }
            // Let the runner record QEMU's end first, so that the status below is the last word.
            let deadline = Instant::now() + RUNNER_GONE_WAIT;
            while crate::liveness::runner_alive(&running) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let log = self.vm_paths(&running).runner_log();
            let why = match last_qemu_line(&log) {
                Some(line) => format!("{why}: {line}"),
                None => format!("{why}; QEMU's output is in {}", log.display()),
            };
            if plan.slot == StateSlot::Managed {
                // The state is kept, and the next `start` tries it again: say so.
                self.db()?.set_status(
                    &record.id,
                    VmStatus::Saved,
                    Some("the last restore failed"),
                )?;
            }
            return Err(SavedStateError::RestoreFailed {
                vm: record.name.clone(),
                image: plan.image.clone(),
                why,
            }
            .into());
        }
        let status = self.block_on(async {
            let qmp = self.qmp_client(&running).await?;
            crate::run_state::status_now(&qmp).await
        })??;
        self.await_recorded_status(&running, status)?;
        if plan.slot == StateSlot::Managed {
            plan.slot.discard(&self.dirs().vm_data_dir(&record.id))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn images_are_named_in_the_data_dir() {
        let dir = Path::new("/d");
        assert_eq!(
            StateSlot::Managed.image(dir),
            Path::new("/d/managed-save.state")
        );
        assert_eq!(
            StateSlot::named("b")
                .unwrap_or(StateSlot::Managed)
                .image(dir),
            Path::new("/d/states/b.state")
        );
    }
}
