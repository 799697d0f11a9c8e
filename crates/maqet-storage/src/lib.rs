//! Drives for maqet VMs: the `storage:` model and its validation, the QEMU arguments of each
//! drive, sizes, and `qemu-img` operations (create, info, snapshots, convert, overlays).
//!
//! The usual flow when a VM starts:
//! 1. [`parse_drives`] validates the config's `storage:` list (errors name the location,
//!    e.g. `storage[1].size`);
//! 2. [`resolve_paths`] makes paths absolute against the config file's directory and
//!    [`assign_default_files`] gives image drives without `file` a path in the VM data directory;
//! 3. [`prepare_image`] checks or creates every image with [`QemuImg`];
//! 4. [`drive_args`] renders the QEMU arguments.
//!
//! ```no_run
//! use std::path::Path;
//! use maqet_storage::{QemuImg, assign_default_files, drive_args, parse_drives, prepare_image, resolve_paths};
//!
//! # fn main() -> Result<(), maqet_storage::StorageError> {
//! let config = serde_json::json!([
//!     {"name": "hdd", "size": "10G"},
//!     {"name": "install", "file": "debian.iso", "media": "cdrom", "interface": "sata"},
//! ]);
//! let mut drives = parse_drives(&config)?;
//! resolve_paths(&mut drives, Path::new("/home/me/vms"))?;
//! assign_default_files(&mut drives, Path::new("/home/me/.local/share/maqet/vms/demo"));
//! let qemu_img = QemuImg::new();
//! for drive in &drives {
//!     prepare_image(&qemu_img, drive)?;
//! }
//! let args = drive_args(&drives)?;
//! assert!(args.contains(&"-device".to_owned()));
//! # Ok(())
//! # }
//! ```

mod args;
mod error;
pub mod images;
mod model;
mod parse;
mod paths;
mod provision;
pub mod qcow2;
pub mod qemu_img;
mod size;

pub use args::{backend_id, drive_args, escape_option_value, node_name};
pub use error::{ErrorKind, StorageError, ToolStderr};
pub use model::{DriveKind, DriveSpec, Interface, Media, SecurityModel};
pub use parse::{MAX_NAME_LEN, parse_drives, validate_drive_name};
pub use paths::{
    SYSTEM_DIRS, assign_default_files, check_writable_location, default_drive_path,
    resolve_existing_prefix, resolve_paths,
};
pub use provision::{prepare_drive, prepare_image};
pub use qemu_img::{
    CreatedImage, ImageFormat, ImageInfo, ImageReferences, QemuImg, SnapshotInfo,
    validate_snapshot_name,
};
pub use size::{ByteSize, parse_memory};

/// The README's example, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
