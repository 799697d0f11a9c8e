//! The SSH host keys cloud-init prints on the console at first boot, read from the serial log.
//!
//! cloud-init's `keys_to_console` step writes the guest's public host keys between
//! `-----BEGIN SSH HOST KEY KEYS-----` and `-----END SSH HOST KEY KEYS-----`. Everything on a
//! serial log comes from the guest and is hostile input: only the first complete block counts,
//! every line in it must be a well-formed public key of a known type (else the block is
//! refused as a whole), the key's comment is dropped, and the result is at most
//! [`MAX_KEYS`] keys. What is written to `known_hosts` is rebuilt from the checked parts,
//! never copied.

use crate::cloud_config::parse_public_key;

/// The line that opens the block.
pub const BEGIN_MARKER: &str = "-----BEGIN SSH HOST KEY KEYS-----";
/// The line that closes it.
pub const END_MARKER: &str = "-----END SSH HOST KEY KEYS-----";
/// The most keys a block may hold (a guest has a handful: ed25519, ecdsa, rsa).
pub const MAX_KEYS: usize = 8;
/// The longest line inside a block (an RSA-8192 key is ~1.4 KB).
const MAX_LINE: usize = 4096;

/// One host key: its type and base64 blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, ...
    pub kind: String,
    /// The key, base64.
    pub blob: String,
}

impl HostKey {
    /// The `known_hosts` line for `host` (a name or a `HostKeyAlias`).
    pub fn known_hosts_line(&self, host: &str) -> String {
        format!("{host} {} {}", self.kind, self.blob)
    }
}

/// Why a block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostKeyError {
    /// A line in the block is not a public key.
    #[error("line {line} of the host key block is not a public key ({reason})")]
    BadLine {
        /// The line's number inside the block (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The block is empty or holds too many keys.
    #[error("the host key block holds {count} keys; expected 1 to {MAX_KEYS}")]
    Count {
        /// How many there were.
        count: usize,
    },
}

/// The host keys of the first complete block in `log`; `Ok(None)` when there is none yet.
pub fn host_keys_from_console(log: &[u8]) -> Result<Option<Vec<HostKey>>, HostKeyError> {
    // Only complete lines: the last one may still be being written.
    let complete = log.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let text = String::from_utf8_lossy(&log[..complete]);
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    // The marker must be a whole line: text around it (a guest echoing it mid-line) does not count.
    if !lines.any(|l| l.trim() == BEGIN_MARKER) {
        return Ok(None);
    }
    let mut keys = Vec::new();
    for (index, line) in lines.enumerate() {
        let line = line.trim();
        if line == END_MARKER {
            if keys.is_empty() || keys.len() > MAX_KEYS {
                return Err(HostKeyError::Count { count: keys.len() });
            }
            return Ok(Some(keys));
        }
        let bad = |reason: String| HostKeyError::BadLine {
            line: index + 1,
            reason,
        };
        if line.len() > MAX_LINE {
            return Err(bad(format!("longer than {MAX_LINE} bytes")));
        }
        if keys.len() >= MAX_KEYS {
            return Err(HostKeyError::Count {
                count: keys.len() + 1,
            });
        }
        let (kind, blob, _comment) = parse_public_key(line).map_err(bad)?;
        keys.push(HostKey { kind, blob });
    }
    // The block has not ended yet (the guest is still writing it).
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPT0cvPLq0p3Ife4oEwD4Z7I57MEkAlOfuAUUL7ko6Nw";
    const EC: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBP1/Ou3oh8tPuW+UvF1jSAw8+kYDJEuNYDr781uslGv72Hd3hgQk7caoisDu2Lcv8R+a4X8690AT3gYScKv8S+Q=";

    fn block(body: &str) -> String {
        format!("boot noise\r\n{BEGIN_MARKER}\r\n{body}{END_MARKER}\r\nlogin: ")
    }

    #[test]
    fn a_cloud_init_block_gives_its_keys_without_comments() {
        let log = block(&format!("{EC} root@web\r\n{ED} root@web\r\n"));
        let keys = host_keys_from_console(log.as_bytes()).unwrap().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].kind, "ssh-ed25519");
        assert_eq!(keys[1].known_hosts_line("maqet-1"), format!("maqet-1 {ED}"));
    }

    #[test]
    fn no_block_or_an_unfinished_one_is_not_an_answer_yet() {
        assert_eq!(host_keys_from_console(b"just booting\n").unwrap(), None);
        let open = format!("{BEGIN_MARKER}\n{ED}\n");
        assert_eq!(host_keys_from_console(open.as_bytes()).unwrap(), None);
        // A marker inside a line (echoed by a shell, say) does not open a block.
        let inline = format!("echo '{BEGIN_MARKER}'\n{ED}\n{END_MARKER}\n");
        assert_eq!(host_keys_from_console(inline.as_bytes()).unwrap(), None);
    }

    #[test]
    fn hostile_lines_refuse_the_whole_block() {
        let cases = [
            // known_hosts markers and patterns that would widen what the key vouches for.
            format!("@cert-authority * {ED}\n"),
            format!("* {ED}\n"),
            // A key type maqet does not know, a blob of another type, broken base64.
            "ssh-dss AAAAB3NzaC1kc3MAAACBAP\n".to_owned(),
            format!("ssh-rsa {}\n", ED.split(' ').nth(1).unwrap()),
            "ssh-ed25519 AAAA!!!!\n".to_owned(),
            // Control characters and escape sequences.
            format!("{ED}\u{1b}[2J\n"),
            String::from_utf8_lossy(b"ssh-ed25519 \xff\xfe\n").into_owned(),
            // An over-long line, and an empty block.
            format!("ssh-ed25519 {}\n", "A".repeat(5000)),
            String::new(),
        ];
        for body in cases {
            let log = block(&body);
            assert!(
                host_keys_from_console(log.as_bytes()).is_err(),
                "accepted {body:?}"
            );
        }
    }

    #[test]
    fn too_many_keys_are_refused() {
        let body = format!("{ED}\n").repeat(MAX_KEYS + 1);
        let err = host_keys_from_console(block(&body).as_bytes()).unwrap_err();
        assert!(matches!(err, HostKeyError::Count { .. }), "{err}");
    }

    #[test]
    fn only_the_first_block_counts() {
        let log = format!(
            "{}\n{BEGIN_MARKER}\n{EC}\n{END_MARKER}\n",
            block(&format!("{ED}\n"))
        );
        let keys = host_keys_from_console(log.as_bytes()).unwrap().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kind, "ssh-ed25519");
    }
}
