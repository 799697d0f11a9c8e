//! Small serde types for the replies maqet reads; unknown fields and enum values are tolerated.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A QEMU version, as in the greeting and in `query-version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "VersionWire", into = "VersionWire")]
pub struct QemuVersion {
    /// Major version (7 for QEMU 7.2.0).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Micro (patch) version.
    pub micro: u32,
    /// Distribution package string, possibly empty.
    pub package: String,
}

impl fmt::Display for QemuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

#[derive(Serialize, Deserialize)]
struct VersionWire {
    qemu: VersionTriple,
    #[serde(default)]
    package: String,
}

#[derive(Serialize, Deserialize)]
struct VersionTriple {
    major: u32,
    minor: u32,
    micro: u32,
}

impl From<VersionWire> for QemuVersion {
    fn from(w: VersionWire) -> Self {
        Self {
            major: w.qemu.major,
            minor: w.qemu.minor,
            micro: w.qemu.micro,
            package: w.package,
        }
    }
}

impl From<QemuVersion> for VersionWire {
    fn from(v: QemuVersion) -> Self {
        Self {
            qemu: VersionTriple {
                major: v.major,
                minor: v.minor,
                micro: v.micro,
            },
            package: v.package,
        }
    }
}

/// Declares a string enum whose unknown values land in `Unknown(String)` instead of failing.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this crate does not know (newer QEMU); the text is kept.
            Unknown(String),
        }

        impl $name {
            /// The value as QEMU spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Unknown(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
                Ok(Self::from(text.as_ref()))
            }
        }
    };
}

open_enum! {
    /// QEMU's run state (`query-status`'s `status`).
    RunState {
        /// Stopped by a debugger.
        Debug = "debug",
        /// Waiting for an incoming migration.
        InMigrate = "inmigrate",
        /// Stopped after an internal error.
        InternalError = "internal-error",
        /// Stopped after a disk I/O error.
        IoError = "io-error",
        /// Paused (`stop`).
        Paused = "paused",
        /// Stopped after an outgoing migration.
        PostMigrate = "postmigrate",
        /// Not started yet (`-S`).
        Prelaunch = "prelaunch",
        /// Finishing an outgoing migration.
        FinishMigrate = "finish-migrate",
        /// Restoring a snapshot.
        RestoreVm = "restore-vm",
        /// Running.
        Running = "running",
        /// Saving a snapshot.
        SaveVm = "save-vm",
        /// The guest shut down (with `-no-shutdown`).
        Shutdown = "shutdown",
        /// The guest is suspended (ACPI S3).
        Suspended = "suspended",
        /// Stopped by the watchdog.
        Watchdog = "watchdog",
        /// The guest panicked.
        GuestPanicked = "guest-panicked",
        /// COLO fault tolerance mode.
        Colo = "colo",
    }
}

open_enum! {
    /// A background job's state (`query-jobs`, `JOB_STATUS_CHANGE`).
    JobStatus {
        /// Created, not started.
        Created = "created",
        /// Running.
        Running = "running",
        /// Paused by request.
        Paused = "paused",
        /// Ready to complete (mirror-like jobs).
        Ready = "ready",
        /// Paused while ready.
        Standby = "standby",
        /// Waiting for other jobs in its transaction.
        Waiting = "waiting",
        /// Waiting for `job-finalize`.
        Pending = "pending",
        /// Being aborted.
        Aborting = "aborting",
        /// Finished (with or without error); waits for `job-dismiss`.
        Concluded = "concluded",
        /// Gone.
        Null = "null",
    }
}

/// The reply to `query-status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// The detailed run state.
    pub status: RunState,
    /// Whether the vCPUs are running.
    pub running: bool,
}

/// One entry of `query-jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobInfo {
    /// The job id chosen when it was started.
    pub id: String,
    /// The job type, e.g. `"snapshot-save"`.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The job's current state.
    pub status: JobStatus,
    /// Progress so far, in units of `total_progress`.
    #[serde(default)]
    pub current_progress: u64,
    /// Total amount of work.
    #[serde(default)]
    pub total_progress: u64,
    /// Why the job failed, when it concluded with an error.
    #[serde(default)]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_run_state_is_kept_as_text() {
        let info: StatusInfo = serde_json::from_value(
            json!({"status": "teleporting", "running": false, "singlestep": false}),
        )
        .unwrap();
        assert_eq!(info.status, RunState::Unknown("teleporting".into()));
        assert_eq!(info.status.to_string(), "teleporting");
    }

    #[test]
    fn known_run_state_round_trips() {
        let info: StatusInfo =
            serde_json::from_value(json!({"status": "prelaunch", "running": false})).unwrap();
        assert_eq!(info.status, RunState::Prelaunch);
        assert_eq!(
            serde_json::to_value(&info).unwrap(),
            json!({"status": "prelaunch", "running": false})
        );
    }

    #[test]
    fn query_jobs_entry_parses_qemu_reply() {
        let job: JobInfo = serde_json::from_value(json!({
            "current-progress": 1, "status": "concluded", "total-progress": 1,
            "type": "snapshot-save", "id": "s1", "error": "Device 'x' not found"
        }))
        .unwrap();
        assert_eq!(job.status, JobStatus::Concluded);
        assert_eq!(job.job_type, "snapshot-save");
        assert_eq!(job.error.as_deref(), Some("Device 'x' not found"));
    }

    #[test]
    fn version_reads_query_version_shape_and_displays_dotted() {
        let v: QemuVersion = serde_json::from_value(
            json!({"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": ""}),
        )
        .unwrap();
        assert_eq!(v.to_string(), "7.2.22");
    }
}
