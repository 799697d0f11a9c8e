//! maqet-core is the `Maqet` facade over the layers: one handle whose methods are the maqet
//! commands, run on `maqet-state`, `maqet-storage`, `maqet-qmp` and `maqet-runner`.
//!
//! Every maqet command is a method on [`Maqet`] marked with `#[api_method]`. The attribute
//! registers the command in [`registry`], from which the `maqet` CLI builds its command tree, and
//! through which plugins and scripts call commands by name.
//!
//! Each command is also a typed request with a fluent builder: the entry method takes the
//! required arguments, chained setters the optional ones (with the registry's defaults when
//! left out), and `.send()` runs it and returns the command's own result type. This runs
//! without QEMU (adding, listing and removing VMs only touch the state database):
//!
//! ```
//! use maqet_core::{ConfigKeySetters, Maqet};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let data_dir = dir.path().join("data");
//! # let vm_yaml = dir.path().join("vm.yaml");
//! # std::fs::write(&vm_yaml, "memory: 1G\n")?;
//! let maqet = Maqet::builder().data_dir(&data_dir).build()?;
//! let added = maqet.add().config(&vm_yaml).name("web").memory("4G").cpu(2).send()?;
//! println!("added {}", added.0.vm_id);
//! for row in maqet.ls().send()?.0 {
//!     println!("{} {}", row.name, row.status);
//! }
//! // The same command by name, with JSON arguments (as plugins and scripts call it):
//! let status = maqet.call("status", serde_json::json!({"vm": "web"}))?;
//! assert_eq!(status["status"], "created");
//! // Or as a typed request, built now and run later:
//! let rm = maqet_core::api::RmRequest { force: true, ..maqet_core::api::RmRequest::new() };
//! # let _ = rm;
//! maqet.rm().vm("web").force(true).send()?;
//! # Ok(()) }
//! ```
//!
//! With QEMU installed, the reference's Quick Start reads the same in Rust (see
//! `examples/quick_start.rs`):
//!
//! ```no_run
//! use maqet_core::Maqet;
//!
//! # fn main() -> Result<(), maqet_core::MaqetError> {
//! let maqet = Maqet::new()?;
//! let vm_id = maqet.add().config("config.yaml").name("myvm").send()?.into_vm_id();
//! maqet.start(&vm_id).send()?;
//! let status = maqet.status(&vm_id).send()?;
//! println!("VM {} is {}", status.name, status.status);
//! maqet.stop(&vm_id).force(false).timeout(30.0).send()?;
//! maqet.rm().vm(&vm_id).force(true).send()?;
//! # Ok(()) }
//! ```
//!
//! The builder is also a future: in async code, `.await` it instead of calling `.send()`
//! (`maqet.stop(&vm_id).force(true).await?`). [`Maqet`] is a cheap `Clone + Send + Sync`
//! handle, so it can be cloned into tokio tasks (see `examples/async_fleet.rs`).
//! `maqet.execute(StopRequest::new("web"))` runs a typed request.

extern crate self as maqet_core;

pub mod api;
mod atomic_file;
use maqet_config::bounded_read;
mod call;
mod census;
pub use maqet_config as config;
pub mod dirs;
mod error;
mod error_kind;
mod error_parts;
pub mod firmware;
pub mod first_boot;
mod host_ports;
mod identity;
mod liveness;
mod maqet;
mod qmp_connect;
pub mod registry;
mod request;
pub mod results;
mod run_state;
mod saved_state;
mod saved_state_error;
mod screen_capture;
mod screenshot;
mod seconds;
mod session;
pub mod settings;
mod snapshot_error;
mod text;
pub use maqet_config::trust;
mod vm_lock;

#[doc(hidden)]
pub use inventory;
#[doc(hidden)]
pub use serde_json;

#[doc(hidden)]
pub use call::run_blocking;
pub use call::{CallFuture, CallHooks};
pub use error::{
    ErrorKind, MaqetError, NeedsStopped, PluginFailure, SavedStateError, SnapshotError,
};
pub use identity::looks_like_vm_id;
pub use maqet::{Maqet, MaqetBuilder, ProgressHook};
/// The refusal of a bad argument, shared with plugins (`MaqetError::Argument`).
pub use maqet_command::ArgError;
pub use maqet_state::{VmRecord, VmStatus};
pub use request::{ConfigKeySetters, KEYS_WITHOUT_SETTER, Request};
pub use session::Session;

/// Makes sure this crate's command registrations are linked into the final binary.
///
/// `inventory` registrations live in this crate's object files; a binary that never refers to
/// the crate would silently drop them. Calling this (the CLI does) keeps them, and returns how
/// many commands are registered.
pub fn linked_command_count() -> usize {
    registry::methods_unordered().count()
}

/// The README's Rust examples, compiled (and run where they can) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
