//! The agent replies maqet reads, and base64 for file and output data.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// `guest-exec`'s reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExecStarted {
    /// The guest process id.
    pub pid: i64,
}

/// `guest-exec-status`'s reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecStatus {
    /// Whether the process has ended.
    pub exited: bool,
    /// Its exit code, when it exited normally.
    pub exitcode: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Captured stdout, base64.
    pub out_data: Option<String>,
    /// Captured stderr, base64.
    pub err_data: Option<String>,
    /// Whether the agent cut stdout (it keeps at most 16 MiB).
    pub out_truncated: Option<bool>,
    /// Whether the agent cut stderr.
    pub err_truncated: Option<bool>,
}

/// `guest-file-read`'s reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FileRead {
    /// Bytes read.
    pub count: u64,
    /// The bytes, base64.
    pub buf_b64: String,
    /// Whether the end of the file was reached.
    pub eof: bool,
}

/// `guest-file-write`'s reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileWrite {
    /// Bytes written.
    pub count: u64,
}

/// `guest-info`'s reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// The agent's version.
    pub version: String,
    /// Every command the agent knows, and whether it is enabled (qemu-ga spells this field
    /// with an underscore, unlike the others).
    pub supported_commands: Vec<SupportedCommand>,
}

/// One entry of `guest-info`'s command list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SupportedCommand {
    /// Command name.
    pub name: String,
    /// Whether it may be used (`qemu-ga --block-rpcs` disables commands).
    pub enabled: bool,
    /// Whether it answers on success.
    #[serde(default)]
    pub success_response: bool,
}

impl AgentInfo {
    /// Whether `command` is known and enabled.
    pub fn allows(&self, command: &str) -> bool {
        self.supported_commands
            .iter()
            .any(|c| c.name == command && c.enabled)
    }
}

/// Encodes bytes for `input-data` and `buf-b64`.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes the agent's base64 data.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exec_status_reads_the_agents_field_names() {
        let status: ExecStatus = serde_json::from_value(json!({
            "exited": true, "exitcode": 7, "out-data": "aGk=", "err-truncated": false
        }))
        .unwrap();
        assert_eq!(status.exitcode, Some(7));
        assert_eq!(
            decode_base64(status.out_data.as_deref().unwrap()).unwrap(),
            b"hi"
        );
        assert_eq!(encode_base64(&[0, 255, 10]), "AP8K");
    }
}
