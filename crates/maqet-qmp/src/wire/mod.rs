//! QMP framing and message types, usable by clients and by servers.
//!
//! QMP messages are JSON objects, one per line (`"\r\n"` or `"\n"`). A peer may send several
//! messages in one read, or split one message across reads; [`LineDecoder`] (sans I/O) and
//! [`LineReader`] (over any [`tokio::io::AsyncRead`]) turn bytes back into lines.
//!
//! Parsing is tolerant on purpose: unknown fields are ignored, unknown event names are ordinary
//! events, and a malformed line is reported as a [`WireError`] without ending the stream.
//!
//! A server (such as a QMP multiplexer) reads [`ClientCommand`]s and writes [`ServerMessage`]s:
//!
//! ```
//! use maqet_qmp::wire::{ClientCommand, ServerMessage};
//! use serde_json::json;
//!
//! let command = ClientCommand::parse(br#"{"execute": "query-status", "id": 7}"#).unwrap();
//! assert_eq!(command.execute, "query-status");
//! let reply = ServerMessage::Return { id: command.id, ret: json!({"status": "running"}) };
//! assert_eq!(reply.to_line(), "{\"return\":{\"status\":\"running\"},\"id\":7}\r\n");
//! ```

mod codec;
mod message;

pub use codec::{DEFAULT_MAX_LINE_LEN, LineDecoder, LineReader};
pub use message::{ClientCommand, Greeting, QmpEvent, ServerMessage, Timestamp, WireError};
