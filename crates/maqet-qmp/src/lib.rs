//! An async QMP (QEMU Machine Protocol) client on tokio, over a Unix socket.
//!
//! [`QmpClient`] connects to a QMP socket (QEMU's own `-qmp unix:...` socket, or any server that
//! speaks QMP, such as the maqet runner's multiplexer), does the greeting and
//! `qmp_capabilities` handshake, and then runs commands and delivers events:
//!
//! - Commands carry a unique `id`, so any number may be in flight at once from clones of the
//!   client; each gets its own reply. A reply arriving after its command timed out is dropped.
//! - Events go to every [`QmpClient::events`] subscriber through a bounded broadcast channel; a
//!   slow subscriber loses old events rather than stalling the connection.
//! - When the connection ends (QEMU quit or crashed), pending commands fail with
//!   [`QmpError::Closed`] and [`QmpClient::closed`] resolves.
//! - QEMU's error replies become [`QmpError::Command`] with QEMU's `class` and `desc`.
//!
//! [`qga`] is the guest agent's protocol (qemu-ga), which is close to QMP but has its own
//! framing and no ids.
//!
//! [`wire`] holds the framing and message types on their own, for servers too; [`keys`] holds
//! QEMU's key names and a US-layout text-to-keys map.
//!
//! # Why not the `qapi` crate
//!
//! The `qapi` crate's generated client ends the connection when QEMU sends an event it does
//! not know (newer QEMU versions add events), and its code generation from QEMU's schema is
//! heavy to build. This crate keeps its own tolerant transport instead — unknown events,
//! unknown fields, unknown enum values and even non-JSON lines are logged and skipped, never
//! fatal — plus small serde types for the replies maqet reads. Anything else is reachable
//! through [`QmpClient::execute`] with raw JSON.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use maqet_qmp::{QmpClient, RunState};
//!
//! # async fn demo() -> Result<(), maqet_qmp::QmpError> {
//! let qmp = QmpClient::connect("/run/user/1000/vm.qmp").await?;
//! println!("QEMU {}", qmp.greeting().version);
//!
//! let mut events = qmp.events(); // subscribe before acting, to see the event it causes
//! if qmp.query_status().await?.status == RunState::Prelaunch {
//!     qmp.cont().await?;
//! }
//! while let Ok(event) = events.recv().await {
//!     if event.event == "RESUME" {
//!         break;
//!     }
//! }
//!
//! qmp.type_text("root\n", None).await?;
//! let pci = qmp.execute_with_timeout("query-pci", None, Duration::from_secs(5)).await?;
//! println!("{pci}");
//! qmp.quit().await?;
//! # Ok(()) }
//! ```

mod client;
mod commands;
mod error;
mod jobs;
pub mod keys;
pub mod qga;
mod types;
pub mod wire;

pub use client::{DEFAULT_TIMEOUT, EVENT_CAPACITY, Negotiation, PendingReply, QmpClient};
pub use error::QmpError;
pub use types::{JobInfo, JobStatus, QemuVersion, RunState, StatusInfo};
pub use wire::{Greeting, QmpEvent, Timestamp};

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod fake_qemu;

/// The README's example, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
