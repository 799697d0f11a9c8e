//! maqet-core: the `Maqet` API, the command registry, and the VM config model.
//!
//! Every maqet command is a method on [`Maqet`] marked with `#[api_method]`. The attribute
//! registers the command in [`registry`], from which the `maqet` CLI builds its command tree, and
//! through which plugins and scripts call commands by name.
//!
//! ```no_run
//! use maqet_core::Maqet;
//!
//! # fn main() -> Result<(), maqet_core::MaqetError> {
//! let maqet = Maqet::builder().data_dir("/tmp/maqet-example").build()?;
//! let vm = maqet.add(vec!["vm.yaml".into()], vec![], Some("web".into()), false, Default::default())?;
//! println!("added {}", vm.0.vm_id);
//! for row in maqet.ls(None)?.0 {
//!     println!("{} {}", row.name, row.status);
//! }
//! // The same command by name, with JSON arguments:
//! let status = maqet.call("status", serde_json::json!({"vm": "web"}))?;
//! # Ok(()) }
//! ```

extern crate self as maqet_core;

pub mod api;
mod atomic_file;
mod bounded_read;
mod census;
pub mod config;
pub mod dirs;
mod error;
mod host_ports;
mod identity;
mod liveness;
mod maqet;
mod qmp_connect;
pub mod registry;
pub mod results;
mod screenshot;
mod seconds;
mod session;
pub mod settings;
mod text;
pub mod trust;
mod vm_lock;

#[doc(hidden)]
pub use inventory;

pub use error::{ErrorKind, MaqetError};
pub use identity::looks_like_vm_id;
pub use maqet::{Maqet, MaqetBuilder, ProgressHook};
pub use maqet_state::{VmRecord, VmStatus};
pub use session::Session;

/// Makes sure this crate's command registrations are linked into the final binary.
///
/// `inventory` registrations live in this crate's object files; a binary that never refers to
/// the crate would silently drop them. Calling this (the CLI does) keeps them, and returns how
/// many commands are registered.
pub fn linked_command_count() -> usize {
    registry::methods().len()
}
