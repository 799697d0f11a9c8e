//! Splitting the agent's byte stream into JSON objects and `0xFF` sync delimiters.
//!
//! The agent writes each reply as one JSON object, usually but not always followed by a
//! newline, and answers `guest-sync-delimited` with a `0xFF` byte first. Frames are found by
//! structure (braces outside strings), not by newlines; bytes outside any object (newlines,
//! garbage after a guest reboot) are skipped.

use serde_json::Value;

/// The byte the agent sends before its answer to `guest-sync-delimited`.
pub const SYNC_DELIMITER: u8 = 0xFF;

/// One thing read from the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// The `0xFF` delimiter.
    Delimiter,
    /// A complete JSON object.
    Object(Value),
    /// A complete `{...}` that is not valid JSON (its text, for logs).
    Invalid(String),
}

/// Accumulates bytes and yields complete frames.
///
/// The scan of a partly received object resumes where it stopped, so a large reply (a 1 MiB
/// file chunk is ~1.4 MB of base64) arriving in small reads costs linear time.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    bytes: Vec<u8>,
    scan: Scan,
}

/// How far the current object has been scanned.
#[derive(Debug, Default, Clone, Copy)]
struct Scan {
    /// Bytes of `bytes` already looked at (0 = not inside an object yet).
    at: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl FrameBuffer {
    /// An empty buffer.
    pub fn new() -> FrameBuffer {
        FrameBuffer::default()
    }

    /// Adds bytes read from the channel.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Forgets everything buffered (before a resync).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.scan = Scan::default();
    }

    /// The next complete frame, if the buffer holds one.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.scan.at == 0 {
            let start = self
                .bytes
                .iter()
                .position(|b| *b == b'{' || *b == SYNC_DELIMITER);
            let Some(start) = start else {
                self.bytes.clear();
                return None;
            };
            if self.bytes[start] == SYNC_DELIMITER {
                self.bytes.drain(..=start);
                return Some(Frame::Delimiter);
            }
            self.bytes.drain(..start);
        }
        let end = self.object_end()?;
        self.scan = Scan::default();
        let object: Vec<u8> = self.bytes.drain(..end).collect();
        Some(match serde_json::from_slice(&object) {
            Ok(value) => Frame::Object(value),
            Err(_) => Frame::Invalid(String::from_utf8_lossy(&object).into_owned()),
        })
    }

    /// Where the object starting at `bytes[0]` (a `{`) ends (one past its `}`), once complete.
    ///
    /// A `0xFF` inside an object (never valid in UTF-8 JSON) ends it early, so a resync
    /// delimiter is never swallowed by a torn object.
    fn object_end(&mut self) -> Option<usize> {
        let scan = &mut self.scan;
        while scan.at < self.bytes.len() {
            let i = scan.at;
            let b = self.bytes[i];
            scan.at += 1;
            if b == SYNC_DELIMITER {
                return Some(i);
            }
            if scan.in_string {
                match (scan.escaped, b) {
                    (true, _) => scan.escaped = false,
                    (false, b'\\') => scan.escaped = true,
                    (false, b'"') => scan.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => scan.in_string = true,
                b'{' | b'[' => scan.depth += 1,
                b'}' | b']' => {
                    scan.depth = scan.depth.saturating_sub(1);
                    if scan.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frames(input: &[u8]) -> Vec<Frame> {
        let mut buffer = FrameBuffer::new();
        buffer.extend(input);
        std::iter::from_fn(|| buffer.next_frame()).collect()
    }

    #[test]
    fn objects_split_by_structure_with_or_without_newlines() {
        let got =
            frames(b"{\"return\": {}}{\"return\": \"a}b{\\\"\"}\n{\"return\": [1, {\"x\": 2}]}\n");
        assert_eq!(
            got,
            vec![
                Frame::Object(json!({"return": {}})),
                Frame::Object(json!({"return": "a}b{\""})),
                Frame::Object(json!({"return": [1, {"x": 2}]})),
            ]
        );
    }

    #[test]
    fn the_delimiter_is_a_frame_and_garbage_is_skipped() {
        let got = frames(b"garbage\n\xff{\"return\": 42}\n");
        assert_eq!(
            got,
            vec![Frame::Delimiter, Frame::Object(json!({"return": 42}))]
        );
    }

    #[test]
    fn a_torn_object_ends_at_the_delimiter() {
        let got = frames(b"{\"return\": \"half\xff{\"return\": 7}");
        assert!(matches!(got[0], Frame::Invalid(_)), "{got:?}");
        assert_eq!(
            got[1..],
            [Frame::Delimiter, Frame::Object(json!({"return": 7}))]
        );
    }

    #[test]
    fn incomplete_objects_wait_for_more_bytes() {
        let mut buffer = FrameBuffer::new();
        buffer.extend(b"{\"return\": {\"a\"");
        assert_eq!(buffer.next_frame(), None);
        buffer.extend(b": 1}}");
        assert_eq!(
            buffer.next_frame(),
            Some(Frame::Object(json!({"return": {"a": 1}})))
        );
    }
}
