//! Splitting the agent's byte stream into JSON objects and `0xFF` sync delimiters, with a hard
//! cap on what one reply may cost.
//!
//! The agent writes each reply as one JSON object, usually but not always followed by a
//! newline, and answers `guest-sync-delimited` with a `0xFF` byte first. Frames are found by
//! structure (braces outside strings), not by newlines; bytes outside any object (newlines,
//! garbage after a guest reboot) are dropped as they arrive.
//!
//! Everything here is read from the guest, which may be hostile: an object that grows past
//! [`MAX_REPLY_BYTES`] is thrown away and the buffer then drops everything up to the next
//! `0xFF` (the connection resynchronises), and a buffer that grew for a large reply is given
//! back once that reply is out, so the memory one agent channel holds is bounded by the cap.

use serde_json::Value;

/// The byte the agent sends before its answer to `guest-sync-delimited`.
pub const SYNC_DELIMITER: u8 = 0xFF;

/// The largest agent reply maqet accepts, in bytes of JSON (48 MiB).
///
/// The largest reply a working qemu-ga sends maqet is `guest-exec-status` with both output
/// streams at qemu-ga's 16 MiB limit: 2 × 22.4 MB of base64, about 42.7 MiB (a 1 MiB `cp`
/// chunk is 1.4 MB). A reply past this is dropped unread and the request fails.
pub const MAX_REPLY_BYTES: usize = 48 * 1024 * 1024;

/// A buffer whose capacity grew past this for a large reply is shrunk once it is idle again.
pub const IDLE_CAPACITY: usize = 4 * 1024 * 1024;

/// How many bytes of a torn object [`Frame::Invalid`] keeps (for logs).
const INVALID_PREVIEW: usize = 120;

/// One thing read from the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// The `0xFF` delimiter.
    Delimiter,
    /// A complete JSON object.
    Object(Value),
    /// A complete `{...}` that is not valid JSON (its first bytes, for logs).
    Invalid(String),
    /// An object grew past the buffer's limit: it was dropped, and the buffer now drops
    /// everything until the next delimiter.
    TooLarge,
}

/// Accumulates bytes and yields complete frames, holding at most its limit (plus one read).
///
/// The scan of a partly received object resumes where it stopped, so a large reply (a 1 MiB
/// file chunk is ~1.4 MB of base64) arriving in small reads costs linear time.
#[derive(Debug)]
pub struct FrameBuffer {
    bytes: Vec<u8>,
    scan: Scan,
    limit: usize,
    /// Dropping everything until the next `0xFF` (after [`Frame::TooLarge`], during a resync).
    skipping: bool,
    /// Bytes dropped without forming a frame since [`FrameBuffer::take_dropped`].
    dropped: u64,
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

impl Default for FrameBuffer {
    fn default() -> FrameBuffer {
        FrameBuffer::with_limit(MAX_REPLY_BYTES)
    }
}

impl FrameBuffer {
    /// An empty buffer with the [`MAX_REPLY_BYTES`] limit.
    pub fn new() -> FrameBuffer {
        FrameBuffer::default()
    }

    /// An empty buffer that gives up on objects longer than `limit` bytes.
    pub fn with_limit(limit: usize) -> FrameBuffer {
        FrameBuffer {
            bytes: Vec::new(),
            scan: Scan::default(),
            limit,
            skipping: false,
            dropped: 0,
        }
    }

    /// Adds bytes read from the channel (only from the next `0xFF` on while skipping).
    pub fn extend(&mut self, bytes: &[u8]) {
        let bytes = if self.skipping {
            match bytes.iter().position(|b| *b == SYNC_DELIMITER) {
                Some(at) => {
                    self.skipping = false;
                    self.dropped += at as u64;
                    &bytes[at..]
                }
                None => {
                    self.dropped += bytes.len() as u64;
                    return;
                }
            }
        } else {
            bytes
        };
        self.bytes.extend_from_slice(bytes);
    }

    /// Forgets everything buffered (before a resync) and gives back a large buffer.
    pub fn clear(&mut self) {
        self.dropped += self.bytes.len() as u64;
        self.bytes.clear();
        self.scan = Scan::default();
        self.shrink_if_idle();
    }

    /// Drops everything buffered and everything that arrives until the next `0xFF`.
    pub fn skip_to_delimiter(&mut self) {
        self.clear();
        self.skipping = true;
    }

    /// Whether the buffer is dropping bytes until the next `0xFF`.
    pub fn is_skipping(&self) -> bool {
        self.skipping
    }

    /// Bytes dropped without forming a frame (garbage, skipped, too large) since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// The bytes the buffer holds right now (at most its limit plus one read).
    pub fn buffered(&self) -> usize {
        self.bytes.len()
    }

    /// The memory the buffer holds right now.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// The next complete frame, if the buffer holds one.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.scan.at == 0 {
            let start = self
                .bytes
                .iter()
                .position(|b| *b == b'{' || *b == SYNC_DELIMITER);
            let Some(start) = start else {
                self.count_garbage(self.bytes.len());
                self.bytes.clear();
                self.shrink_if_idle();
                return None;
            };
            self.count_garbage(start);
            if self.bytes[start] == SYNC_DELIMITER {
                self.bytes.drain(..=start);
                return Some(Frame::Delimiter);
            }
            self.bytes.drain(..start);
        }
        let Some(end) = self.object_end() else {
            if self.bytes.len() > self.limit {
                self.skip_to_delimiter();
                return Some(Frame::TooLarge);
            }
            return None;
        };
        if end > self.limit {
            self.skip_to_delimiter();
            return Some(Frame::TooLarge);
        }
        self.scan = Scan::default();
        let frame = match serde_json::from_slice(&self.bytes[..end]) {
            Ok(value) => Frame::Object(value),
            Err(_) => {
                let shown = end.min(INVALID_PREVIEW);
                Frame::Invalid(String::from_utf8_lossy(&self.bytes[..shown]).into_owned())
            }
        };
        self.bytes.drain(..end);
        self.shrink_if_idle();
        Some(frame)
    }

    /// Counts dropped bytes outside objects, except the whitespace between replies.
    fn count_garbage(&mut self, len: usize) {
        let garbage = self.bytes[..len]
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .count();
        self.dropped += garbage as u64;
    }

    /// Gives back the memory a large reply needed once the buffer holds little again.
    fn shrink_if_idle(&mut self) {
        if self.bytes.capacity() > IDLE_CAPACITY && self.bytes.len() <= IDLE_CAPACITY / 4 {
            self.bytes.shrink_to(IDLE_CAPACITY / 4);
        }
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
#[path = "framing_tests.rs"]
mod tests;
