//! QMP framing and message types, usable by clients and by servers.
//!
//! QMP is a stream of JSON objects. As in QEMU, a message ends where its JSON value ends: no
//! newline is needed after it, whitespace (including `"\r\n"`) may appear between any tokens, a
//! peer may send several messages in one read or split one across reads. [`JsonDecoder`] (sans
//! I/O) and [`MessageReader`] (over any [`tokio::io::AsyncRead`]) split the stream by
//! structure with a port of QEMU's own lexer and parser, so malformed input gets exactly
//! QEMU's error text ([`WireError::Json`]) and decoding goes on after it.
//!
//! Interpretation is tolerant on purpose: unknown fields are ignored, unknown event names are
//! ordinary events, and a malformed message is reported as a [`WireError`] without ending the
//! stream.
//!
//! A server (such as a QMP multiplexer) checks requests as QEMU does and writes
//! [`ServerMessage`]s:
//!
//! ```
//! use maqet_qmp::wire::{ClientCommand, JsonDecoder, ServerMessage};
//! use serde_json::json;
//!
//! let mut decoder = JsonDecoder::new();
//! decoder.push(br#"{"execute": "query-status", "id": 7}"#);
//! let request = decoder.next_message().unwrap().unwrap();
//! let command = ClientCommand::from_request(request).unwrap();
//! assert_eq!(command.execute, "query-status");
//! let reply = ServerMessage::Return { id: command.id, ret: json!({"status": "running"}) };
//! assert_eq!(reply.to_line(), "{\"return\":{\"status\":\"running\"},\"id\":7}\r\n");
//! ```

mod lexer;
mod message;
mod parser;
mod stream;

pub use message::{
    BadRequest, ClientCommand, Greeting, QmpEvent, ServerMessage, Timestamp, WireError,
};
pub use stream::{DEFAULT_MAX_MESSAGE_LEN, JsonDecoder, MessageReader};
