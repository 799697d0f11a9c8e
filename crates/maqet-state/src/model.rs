//! The records stored in the database, as the CLI prints them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::StateError;

/// Lifecycle state of a VM as last recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmStatus {
    /// Defined, never started (or not yet started).
    Created,
    /// QEMU is running the guest.
    Running,
    /// QEMU is up, the guest's CPUs are stopped.
    Paused,
    /// Shut down cleanly.
    Stopped,
    /// QEMU or the runner died unexpectedly.
    Crashed,
    /// Start-up failed.
    Failed,
    /// Ended with its memory and device state written to a file (`maqet stop --save`); the
    /// next `start` restores it.
    Saved,
}

impl VmStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [VmStatus; 7] = [
        Self::Created,
        Self::Running,
        Self::Paused,
        Self::Stopped,
        Self::Saved,
        Self::Crashed,
        Self::Failed,
    ];

    /// The lowercase name stored in the database and printed to users.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Crashed => "crashed",
            Self::Failed => "failed",
            Self::Saved => "saved",
        }
    }
}

impl fmt::Display for VmStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VmStatus {
    type Err = StateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| StateError::UnknownStatus {
                value: s.to_owned(),
            })
    }
}

/// Identifies one process across PID reuse: its PID plus its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
    pub start_time: u64,
}

/// One VM as stored in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmRecord {
    /// UUID v4, as a hyphenated lowercase string.
    pub id: String,
    /// Unique, user-chosen name.
    pub name: String,
    /// The merged VM configuration.
    pub config: serde_json::Value,
    /// Absolute paths of the config files the VM was defined from.
    pub config_paths: Vec<PathBuf>,
    /// Last recorded status.
    pub status: VmStatus,
    /// Why the status was set, when known (e.g. the crash cause).
    pub status_reason: Option<String>,
    /// The QEMU process, while one is recorded.
    pub qemu: Option<ProcessIdentity>,
    /// The maqet-runner supervisor process, while one is recorded.
    pub runner: Option<ProcessIdentity>,
    /// QMP socket of the running VM.
    pub qmp_socket: Option<PathBuf>,
    /// Serial console socket of the running VM.
    pub console_socket: Option<PathBuf>,
    /// Per-run directory of the running VM.
    pub runtime_dir: Option<PathBuf>,
    /// When the VM was added (UTC, ISO-8601 with `Z`).
    pub created_at: String,
    /// When the row last changed (UTC, ISO-8601 with `Z`).
    pub updated_at: String,
}

/// One VM as a listing shows it: identity, status and processes, without its configuration,
/// paths or timestamps (what `maqet ls` and the liveness check of many VMs need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSummary {
    /// UUID v4, as a hyphenated lowercase string.
    pub id: String,
    /// Unique, user-chosen name.
    pub name: String,
    /// Last recorded status.
    pub status: VmStatus,
    /// The QEMU process, while one is recorded.
    pub qemu: Option<ProcessIdentity>,
    /// The maqet-runner supervisor process, while one is recorded.
    pub runner: Option<ProcessIdentity>,
}

impl From<VmRecord> for VmSummary {
    fn from(vm: VmRecord) -> Self {
        Self {
            id: vm.id,
            name: vm.name,
            status: vm.status,
            qemu: vm.qemu,
            runner: vm.runner,
        }
    }
}

/// What is needed to add a VM; the crate fills in id, status and timestamps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewVm {
    /// Unique name.
    pub name: String,
    /// The merged VM configuration.
    pub config: serde_json::Value,
    /// Absolute paths of the config files.
    pub config_paths: Vec<PathBuf>,
}

/// A storage file recorded for a VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageEntry {
    /// Owning VM's id.
    pub vm_id: String,
    /// Absolute path of the file.
    pub path: PathBuf,
    /// What the file is for: `disk`, `overlay`, `seed`, ...
    pub role: String,
    /// True when maqet created the file, so `rm --clean-storage` may delete it.
    pub created_by_maqet: bool,
    /// Size when registered, if known.
    pub size_bytes: Option<u64>,
    /// When it was first registered (set by the crate; ignored by `register_storage`).
    pub created_at: String,
}

/// The complete runtime state of a VM, written in one go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeUpdate {
    /// New status.
    pub status: VmStatus,
    /// Why, when known.
    pub reason: Option<String>,
    /// The QEMU process, or `None` to clear it.
    pub qemu: Option<ProcessIdentity>,
    /// The runner process, or `None` to clear it.
    pub runner: Option<ProcessIdentity>,
    /// QMP socket, or `None` to clear it.
    pub qmp_socket: Option<PathBuf>,
    /// Console socket, or `None` to clear it.
    pub console_socket: Option<PathBuf>,
    /// Runtime directory, or `None` to clear it.
    pub runtime_dir: Option<PathBuf>,
}

impl RuntimeUpdate {
    /// An update to `status` that clears every runtime field (what a stopped VM has).
    pub fn cleared(status: VmStatus) -> Self {
        Self {
            status,
            reason: None,
            qemu: None,
            runner: None,
            qmp_socket: None,
            console_socket: None,
            runtime_dir: None,
        }
    }

    /// The same update with a reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_round_trips_through_display_fromstr_and_serde() {
        for status in VmStatus::ALL {
            let text = status.to_string();
            assert_eq!(text.parse::<VmStatus>().ok(), Some(status));
            let json = serde_json::to_string(&status).ok();
            assert_eq!(json, Some(format!("\"{text}\"")));
        }
    }

    #[test]
    fn unknown_status_is_an_error_naming_the_value() {
        let err = "hibernating".parse::<VmStatus>().err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("'hibernating'"), "{msg}");
        assert!(
            "Running".parse::<VmStatus>().is_err(),
            "status names are lowercase"
        );
    }
}
