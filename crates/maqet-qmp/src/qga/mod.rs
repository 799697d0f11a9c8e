//! The QEMU guest agent protocol (qemu-ga): framing, the connection, and reply types.
//!
//! The agent speaks QMP-like JSON over a virtio-serial port, with three differences that make
//! it its own protocol:
//!
//! - There is no greeting and no capabilities negotiation: the host can talk at any time, and
//!   nobody may be listening (the agent is not started yet, or the guest is rebooting).
//! - Replies carry no `id`. After a timeout, a late reply would be taken for the next command's
//!   answer, so the connection must be re-synchronised: [`AgentConnection::sync`] sends a `0xFF`
//!   byte (which makes the agent drop any half-read request) followed by `guest-sync-delimited`
//!   with a fresh random id; the agent answers with `0xFF` then `{"return": id}`, and everything
//!   read before that answer is thrown away.
//! - Frames are JSON objects that may or may not end in a newline; [`framing`] splits the byte
//!   stream by JSON structure and recognises the `0xFF` delimiter.
//!
//! [`AgentConnection`] is the host side of one agent channel: it syncs on connect and after
//! every timeout or framing error, and each command has its own deadline, so a guest without an
//! agent costs a caller its timeout, never a hang. The maqet runner owns the only connection to a
//! VM's channel and serialises its clients' commands over it.

mod connection;
#[cfg(test)]
mod connection_tests;
mod error;
pub mod framing;
pub mod types;

pub use connection::AgentConnection;
pub use error::AgentError;
