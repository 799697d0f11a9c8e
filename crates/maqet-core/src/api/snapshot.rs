//! `maqet snapshot`: internal qcow2 snapshots, offline through qemu-img or live through QMP jobs.

use std::fmt::Write as _;
use std::time::Duration;

use maqet_macros::{api_method, api_requests};
use maqet_qmp::QmpError;
use maqet_state::{VmRecord, VmStatus};
use maqet_storage::{DriveKind, DriveSpec, Media, QemuImg, SnapshotInfo};
use serde::Serialize;

use crate::registry::{CommandOutput, choice_arg};
use crate::snapshot_error::{drive_error, exists_error, missing_error};
use crate::text::human_bytes;
use crate::{Maqet, MaqetError, SnapshotError};

/// How long a live snapshot job may run before maqet stops waiting.
pub const LIVE_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);

/// `snapshot create|load|delete`: what was done.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotChange {
    /// Always `success` (failures are errors).
    pub status: &'static str,
    /// `create`, `load` or `delete`.
    pub operation: String,
    /// The VM's id.
    pub vm_id: String,
    /// The drive (block node) the snapshot lives on.
    pub drive: String,
    /// The snapshot name.
    pub snapshot: String,
    /// Whether an existing snapshot of that name was replaced (create only).
    pub overwrite: bool,
    /// Whether it ran on the running VM through QMP.
    pub live: bool,
    /// `qemu-img` (offline) or `qmp` (live).
    pub method: &'static str,
    /// With `tpm: true`, create and load: whether the snapshot holds the TPM's state
    /// (`included`, `not-included`; see `snapshot_tpm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm_state: Option<&'static str>,
}

/// `snapshot list`: the snapshots of one drive, oldest first.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct SnapshotListing(pub Vec<SnapshotInfo>);

/// The result of `snapshot`: a change, or a listing.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SnapshotOutcome {
    /// create, load or delete.
    Changed(SnapshotChange),
    /// list.
    Listed(SnapshotListing),
}

impl CommandOutput for SnapshotOutcome {
    fn human(&self) -> Option<String> {
        Some(match self {
            SnapshotOutcome::Changed(c) => {
                let verb = match c.operation.as_str() {
                    "create" if c.overwrite => "replaced",
                    "create" => "created",
                    "load" => "loaded",
                    _ => "deleted",
                };
                let tpm = match c.tpm_state {
                    Some(super::snapshot_tpm::INCLUDED) => ", TPM state included",
                    Some(_) => ", TPM state not included",
                    None => "",
                };
                format!(
                    "{verb} snapshot {} on drive {} ({}{tpm})",
                    c.snapshot, c.drive, c.method
                )
            }
            SnapshotOutcome::Listed(list) if list.0.is_empty() => "No snapshots.".to_string(),
            SnapshotOutcome::Listed(list) => snapshot_table(&list.0),
        })
    }
}

fn snapshot_table(rows: &[SnapshotInfo]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(16);
    let mut out = format!(
        "{:<4} {:<width$} {:>12} {:<20} {}",
        "ID", "NAME", "VM STATE", "DATE", "VM CLOCK"
    );
    for r in rows {
        let _ = write!(
            out,
            "\n{:<4} {:<width$} {:>12} {:<20} {}",
            r.id,
            r.name,
            human_bytes(r.vm_state_size),
            r.date,
            r.vm_clock
        );
    }
    out
}

/// What `snapshot` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotAction {
    /// Save a new snapshot.
    Create,
    /// Go back to a snapshot.
    Load,
    /// List the drive's snapshots.
    List,
    /// Delete a snapshot.
    Delete,
}

impl SnapshotAction {
    /// Every action, in the order help lists them.
    pub const ALL: [SnapshotAction; 4] = [
        SnapshotAction::Create,
        SnapshotAction::Load,
        SnapshotAction::List,
        SnapshotAction::Delete,
    ];

    /// The action's name on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            SnapshotAction::Create => "create",
            SnapshotAction::Load => "load",
            SnapshotAction::List => "list",
            SnapshotAction::Delete => "delete",
        }
    }
}

crate::named_choice!(SnapshotAction);
choice_arg!(SnapshotAction);

#[api_requests]
impl Maqet {
    /// Create, load, list or delete an internal snapshot of one qcow2 drive.
    ///
    /// A stopped VM's image is changed with `qemu-img snapshot`; `create` on a drive whose image
    /// does not exist yet creates it first, as `start` would. On a running or paused VM,
    /// `create` and `delete` go through QEMU and hold the disk alone (pause the VM first for a
    /// consistent disk), while `--live` saves or restores through QEMU with the VM's RAM and
    /// device state too; `load` on a running VM needs `--live` or a stopped VM. `list` works
    /// either way. Only qcow2 drives hold snapshots, and
    /// purely numeric names are refused because QEMU confuses them with snapshot ids.
    #[api_method(
        category = "storage",
        python_params = ["vm as vm_id", "action", "drive", "name", "overwrite"],
        python_returns = "snapshot",
        examples = [
            "maqet snapshot web create hdd before-upgrade",
            "maqet snapshot web create hdd before-upgrade --overwrite",
            "maqet snapshot web list hdd --format json",
            "maqet snapshot web load hdd before-upgrade",
            "maqet snapshot web create hdd running-state --live",
            "maqet snapshot web delete hdd before-upgrade"
        ]
    )]
    pub fn snapshot(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(positional, help = "What to do")] action: SnapshotAction,
        #[arg(positional, help = "Drive name (from the VM's `storage` list)")] drive: String,
        #[arg(positional, help = "Snapshot name (create, load and delete)")] name: Option<String>,
        #[arg(help = "Replace an existing snapshot of the same name (create)")] overwrite: bool,
        #[arg(help = "Act on the running VM through QEMU, including its RAM state")] live: bool,
    ) -> Result<SnapshotOutcome, MaqetError> {
        let record = self.reconcile(self.vm_record(&vm)?, false);
        let spec = self.snapshot_drive(&record, &drive)?;
        let file = spec.file.clone().unwrap_or_default();
        let running = matches!(record.status, VmStatus::Running | VmStatus::Paused);
        let qemu_img = QemuImg::new();
        if action == SnapshotAction::List {
            if !file.exists() {
                // Not created yet (see `snapshot_drive`): no snapshots.
                return Ok(SnapshotOutcome::Listed(SnapshotListing(Vec::new())));
            }
            let list = qemu_img
                .snapshot_list(&file, true)
                .map_err(|e| drive_error(e, &record, &drive))?;
            return Ok(SnapshotOutcome::Listed(SnapshotListing(list)));
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(SnapshotError::NameMissing {
                vm: record.name,
                action: action.as_str().to_string(),
                drive,
            }
            .into());
        };
        maqet_storage::validate_snapshot_name(&name)?;
        if overwrite && action != SnapshotAction::Create {
            return Err(SnapshotError::OverwriteOutsideCreate.into());
        }
        match (running, live) {
            (true, false) if action == SnapshotAction::Load => {
                return Err(SnapshotError::LoadWhileRunning { vm: record.name }.into());
            }
            (false, true) => {
                return Err(SnapshotError::LiveWhileStopped { vm: record.name }.into());
            }
            _ => {}
        }
        let _lock = self.lock_vm(&record)?;
        self.refuse_if_saved(&record, &format!("snapshot {}", action.as_str()))?;
        if !file.exists() {
            // A stopped VM whose image `start` has not created yet (a running QEMU has its images).
            if action != SnapshotAction::Create {
                return Err(missing_error(&record, &drive, &name, Vec::new()));
            }
            let created = self.prepare_drive_storage(&record, Some(&drive))?;
            for path in &created {
                self.progress(&format!("created {}", path.display()));
            }
        }
        let disk_only = running && !live;
        if live || disk_only {
            self.snapshot_through_qemu(&record, &spec, action, &name, overwrite, live)?;
        } else {
            let done = match action {
                SnapshotAction::Create => qemu_img.snapshot_create(&file, &name, overwrite),
                SnapshotAction::Load => qemu_img.snapshot_apply(&file, &name),
                _ => qemu_img.snapshot_delete(&file, &name),
            };
            done.map_err(|e| drive_error(e, &record, &drive))?;
        }
        let tpm_state = self.snapshot_tpm_state(&record, action, &drive, &name, live, running)?;
        Ok(SnapshotOutcome::Changed(SnapshotChange {
            status: "success",
            operation: action.as_str().to_string(),
            vm_id: record.id,
            drive,
            snapshot: name,
            overwrite,
            live,
            method: if live {
                "qmp"
            } else if disk_only {
                "qmp-disk-only"
            } else {
                "qemu-img"
            },
            tpm_state,
        }))
    }

    /// The drive to snapshot: it must exist, be a writable qcow2 disk, and have an image or one
    /// that `start` would create (a `size` or `backing_file`; `snapshot create` creates it first).
    fn snapshot_drive(&self, record: &VmRecord, drive: &str) -> Result<DriveSpec, MaqetError> {
        let drives = self.vm_drives(record)?;
        let Some(spec) = drives.iter().find(|d| d.name == drive) else {
            return Err(SnapshotError::NoSuchDrive {
                vm: record.name.clone(),
                drive: drive.to_string(),
                drives: drives.iter().map(|d| d.name.clone()).collect(),
            }
            .into());
        };
        if spec.kind != DriveKind::Qcow2 || spec.media == Media::Cdrom {
            let what = if spec.media == Media::Cdrom {
                "cdrom".to_string()
            } else {
                spec.kind.to_string()
            };
            return Err(SnapshotError::DriveCannotHoldSnapshots {
                vm: record.name.clone(),
                drive: drive.to_string(),
                what,
            }
            .into());
        }
        let file = spec.file.clone().unwrap_or_default();
        let creatable = spec.is_writable() && (spec.size.is_some() || spec.backing_file.is_some());
        if !file.exists() && !creatable {
            return Err(SnapshotError::NoImage {
                vm: record.name.clone(),
                drive: drive.to_string(),
                file,
            }
            .into());
        }
        Ok(spec.clone())
    }

    /// Takes, loads or deletes a snapshot through the VM's QEMU. Live (`snapshot-save` and
    /// friends): RAM and device state with the disks. Otherwise the disk alone while QEMU holds
    /// the image (`blockdev-snapshot-internal-sync`): no RAM or device state, so a paused guest
    /// gives a consistent disk and a running one a crash-consistent disk.
    fn snapshot_through_qemu(
        &self,
        record: &VmRecord,
        spec: &DriveSpec,
        action: SnapshotAction,
        name: &str,
        overwrite: bool,
        live: bool,
    ) -> Result<(), MaqetError> {
        let exists = check_existing(record, spec, action, name, overwrite)?;
        let node = maqet_storage::node_name(spec);
        let fail = |step: &str, e: QmpError| live_error(record, &spec.name, name, step, e, self);
        if !live {
            let arguments = serde_json::json!({"device": node, "name": name});
            return self.block_on(async {
                let qmp = self.qmp_client(record).await?;
                if exists {
                    qmp.execute(
                        "blockdev-snapshot-delete-internal-sync",
                        Some(arguments.clone()),
                    )
                    .await
                    .map_err(|e| fail("delete", e))?;
                }
                if action == SnapshotAction::Create {
                    qmp.execute("blockdev-snapshot-internal-sync", Some(arguments))
                        .await
                        .map_err(|e| fail("take", e))?;
                }
                Ok::<(), MaqetError>(())
            })?;
        }
        let job = |verb: &str| {
            format!(
                "maqet-{verb}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            )
        };
        // A UEFI VM's variables are part of its state: they are saved and loaded with it.
        let devices: Vec<&str> = if crate::firmware::is_uefi(&record.config) {
            vec![node, crate::firmware::VARS_NODE]
        } else {
            vec![node]
        };
        self.block_on(async {
            let qmp = self.qmp_client(record).await?;
            if action == SnapshotAction::Delete || (action == SnapshotAction::Create && exists) {
                let id = job("delete");
                qmp.snapshot_delete(&id, name, &devices)
                    .await
                    .map_err(|e| fail("delete", e))?;
                qmp.wait_job(&id, LIVE_SNAPSHOT_TIMEOUT)
                    .await
                    .map_err(|e| fail("delete", e))?;
            }
            match action {
                SnapshotAction::Create => {
                    let id = job("save");
                    self.progress(&format!("saving snapshot {name} of VM {}", record.name));
                    qmp.snapshot_save(&id, name, node, &devices)
                        .await
                        .map_err(|e| fail("save", e))?;
                    qmp.wait_job(&id, LIVE_SNAPSHOT_TIMEOUT)
                        .await
                        .map_err(|e| fail("save", e))?;
                }
                SnapshotAction::Load => {
                    let id = job("load");
                    self.progress(&format!("loading snapshot {name} into VM {}", record.name));
                    qmp.snapshot_load(&id, name, node, &devices)
                        .await
                        .map_err(|e| fail("load", e))?;
                    qmp.wait_job(&id, LIVE_SNAPSHOT_TIMEOUT)
                        .await
                        .map_err(|e| fail("load", e))?;
                }
                _ => {}
            }
            Ok::<(), MaqetError>(())
        })?
    }
}

/// Whether snapshot `name` is on the drive, refusing what the action cannot do with that:
/// create an existing one without `overwrite`, load or delete a missing one.
fn check_existing(
    record: &VmRecord,
    spec: &DriveSpec,
    action: SnapshotAction,
    name: &str,
    overwrite: bool,
) -> Result<bool, MaqetError> {
    let file = spec.file.clone().unwrap_or_default();
    let existing: Vec<String> = QemuImg::new()
        .snapshot_list(&file, true)
        .map_err(|e| drive_error(e, record, &spec.name))?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let exists = existing.iter().any(|n| n == name);
    match action {
        SnapshotAction::Create if exists && !overwrite => {
            Err(exists_error(record, &spec.name, name))
        }
        SnapshotAction::Load | SnapshotAction::Delete if !exists => {
            Err(missing_error(record, &spec.name, name, existing))
        }
        _ => Ok(exists),
    }
}

/// The error for a failed live snapshot step: when QEMU is gone (checked after the failure),
/// that is the message instead of "QEMU refused".
fn live_error(
    record: &VmRecord,
    drive: &str,
    name: &str,
    step: &str,
    source: QmpError,
    maqet: &Maqet,
) -> MaqetError {
    let (vm, drive, name, step) = (
        record.name.clone(),
        drive.to_string(),
        name.to_string(),
        step.to_string(),
    );
    if !maqet.qemu_alive(record) {
        return SnapshotError::QemuDied {
            vm,
            pid: record.qemu.map(|q| q.pid),
            step,
            name,
            drive,
            source,
        }
        .into();
    }
    SnapshotError::QemuRefused {
        vm,
        step,
        name,
        drive,
        source,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_unknown_ones_name_the_choices() {
        use crate::registry::parse_choice;
        assert_eq!(
            parse_choice::<SnapshotAction>("snapshot", "action", "delete").ok(),
            Some(SnapshotAction::Delete)
        );
        let err = parse_choice::<SnapshotAction>("snapshot", "action", "restore")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("create, load, list, delete"), "{err}");
    }
}
