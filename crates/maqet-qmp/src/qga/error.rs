//! The guest agent connection's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong talking to a guest agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent channel's Unix socket (served by QEMU) could not be connected.
    #[error("cannot connect to the guest agent channel {}; check that QEMU runs with it", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the channel failed.
    #[error("the guest agent channel failed; QEMU probably exited")]
    Io(#[source] std::io::Error),
    /// QEMU closed the channel.
    #[error("the guest agent channel was closed; QEMU probably exited")]
    Closed,
    /// The agent did not answer in time (not running, busy, or the guest is rebooting).
    #[error(
        "the guest agent did not answer `{command}` within {after:?}; is qemu-ga running in the guest?"
    )]
    Timeout {
        /// The command that got no answer.
        command: String,
        /// How long we waited.
        after: Duration,
    },
    /// The agent sent something within the time, but never the answer (a flood, garbage, a
    /// resync answered with an id maqet never sent).
    #[error("the guest agent did not answer `{command}` within {:.1} s: {detail}", after.as_secs_f64())]
    NoValidAnswer {
        /// The command that got no answer.
        command: String,
        /// How long we waited.
        after: Duration,
        /// What the agent sent instead.
        detail: String,
    },
    /// One reply passed [`super::framing::MAX_REPLY_BYTES`]; it was dropped unread.
    #[error(
        "the guest agent's reply to `{command}` passed {} MiB, the most maqet accepts from it; the reply was dropped and the channel is resynchronised before the next command",
        limit >> 20
    )]
    ReplyTooLarge {
        /// The command whose reply was too large.
        command: String,
        /// The cap, in bytes.
        limit: usize,
    },
    /// The agent answered with an error.
    #[error("the guest agent refused `{command}`: {desc} ({class})")]
    Command {
        /// The agent's error class (`GenericError`, `CommandNotFound`, ...).
        class: String,
        /// The agent's description.
        desc: String,
        /// The refused command.
        command: String,
    },
    /// A reply did not have the shape this crate expects.
    #[error("the guest agent's reply to `{command}` does not have the expected shape")]
    UnexpectedReply {
        /// The command.
        command: String,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
}

impl AgentError {
    /// Whether the agent did not answer in time (silent, or sending everything but the answer),
    /// as opposed to answering with an error.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::NoValidAnswer { .. })
    }
}
