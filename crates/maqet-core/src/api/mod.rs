//! The `#[api_method]` commands, by area.

mod attach;
mod cleanup;
mod clone;
mod clone_identity;
mod config_cmds;
mod console;
mod firmware;
pub use console::ConsoleConnection;
mod guest;
mod guest_agent;
mod guest_cp;
mod guest_wait;
mod image;
mod launch_checks;
mod maintenance;
mod mouse;
mod orphans;
mod qmp;
mod remove;
mod run;
mod screen;
mod screen_wait;
mod snapshot;
mod snapshot_tpm;
mod ssh;
mod ssh_wait;
mod state;
mod status;
mod storage;
mod vm;
mod wait_for;
mod watch;

pub use attach::AttachedStorage;
pub use cleanup::{CleanupItem, CleanupReport};
pub use clone::{CloneReport, ClonedDrive};
pub use clone_identity::ClonedPort;
pub use config_cmds::{Markdown, ValidationReport};
pub use firmware::FirmwareInfo;
pub use guest::{ExecResult, GuestInfo};
pub use guest_cp::CopyReport;
pub use image::{ImageList, ImageRemoval, PulledImage, image_cache};
pub use maintenance::{CheckStatus, DoctorCheck, DoctorReport};
pub use orphans::{OrphanFile, OrphanReport};
pub use qmp::{QmpReplies, QmpReply, Screenshot};
pub use run::{StartReport, StopReport};
pub use screen::{ScreenMatch, ScreenText};
pub use screen_wait::{ScreenCondition, ScreenWait};
pub use snapshot::{
    LIVE_SNAPSHOT_TIMEOUT, SnapshotAction, SnapshotChange, SnapshotListing, SnapshotOutcome,
};
pub use state::RebuildReport;
pub use storage::{DriveStorageInfo, StorageInfoReport, StorageVerification, VerifiedFile};
pub use wait_for::WaitCondition;

// The `*Request` / `*Builder` types `#[api_requests]` generates next to each command.
pub use attach::*;
pub use cleanup::*;
pub use clone::*;
pub use config_cmds::*;
pub use console::*;
pub use guest::*;
pub use guest_cp::*;
pub use image::*;
pub use maintenance::*;
pub use mouse::*;
pub use orphans::*;
pub use qmp::*;
pub use remove::*;
pub use run::*;
pub use screen::*;
pub use snapshot::*;
pub use state::*;
pub use status::*;
pub use storage::*;
pub use vm::*;
pub use watch::*;
