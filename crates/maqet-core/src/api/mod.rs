//! The `#[api_method]` commands, by area.

mod attach;
mod cleanup;
mod clone;
mod config_cmds;
mod console;
mod guest;
mod guest_cp;
mod guest_wait;
mod launch_checks;
mod maintenance;
mod orphans;
mod qmp;
mod run;
mod snapshot;
mod state;
mod status;
mod storage;
mod vm;
mod watch;

pub use attach::AttachedStorage;
pub use cleanup::{CleanupItem, CleanupReport};
pub use clone::{CloneReport, ClonedDrive};
pub use config_cmds::{Markdown, ValidationReport};
pub use guest::{ExecResult, GuestInfo};
pub use guest_cp::CopyReport;
pub use maintenance::{CheckStatus, DoctorCheck, DoctorReport};
pub use orphans::{OrphanFile, OrphanReport};
pub use qmp::{QmpReplies, QmpReply, Screenshot};
pub use run::{StartReport, StopReport};
pub use snapshot::{LIVE_SNAPSHOT_TIMEOUT, SnapshotChange, SnapshotListing, SnapshotOutcome};
pub use state::RebuildReport;
pub use storage::{DriveStorageInfo, StorageInfoReport, StorageVerification, VerifiedFile};
