//! Line framing: bytes in, one QMP message per line out.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::WireError;

/// Longest line accepted by default (16 MiB; `query-qmp-schema` replies are a few hundred KiB).
pub const DEFAULT_MAX_LINE_LEN: usize = 16 * 1024 * 1024;

/// Splits a byte stream into lines, without doing any I/O itself.
///
/// Lines end with `"\n"`; a `"\r"` before it is removed, and blank lines are skipped. A line
/// longer than the limit is reported once as [`WireError::LineTooLong`] and then skipped up to
/// its end, so the stream stays usable.
#[derive(Debug)]
pub struct LineDecoder {
    buf: Vec<u8>,
    start: usize,
    scanned: usize,
    discarding: bool,
    max_len: usize,
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDecoder {
    /// Creates a decoder with the [`DEFAULT_MAX_LINE_LEN`] limit.
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_LINE_LEN)
    }

    /// Creates a decoder that rejects lines longer than `max_len` bytes.
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            discarding: false,
            max_len,
        }
    }

    /// Appends bytes just read from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as part of a complete line.
    pub fn pending_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Returns the next complete, non-blank line without its line ending, if one is buffered.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, WireError>> {
        loop {
            let Some(offset) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.buf.len();
                return self.check_overlong();
            };
            let end = self.scanned + offset;
            let mut line = &self.buf[self.start..end];
            self.start = end + 1;
            self.scanned = self.start;
            if std::mem::take(&mut self.discarding) {
                continue;
            }
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if line.len() > self.max_len {
                return Some(Err(WireError::LineTooLong {
                    limit: self.max_len,
                }));
            }
            return Some(Ok(line.to_vec()));
        }
    }

    fn check_overlong(&mut self) -> Option<Result<Vec<u8>, WireError>> {
        // An unfinished line may hold one byte more than the limit: the "\r" of its "\r\n",
        // which is stripped when the "\n" arrives. The exact length is checked then.
        if self.pending_len() <= self.max_len.saturating_add(1) && !self.discarding {
            return None;
        }
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        if self.discarding {
            return None;
        }
        self.discarding = true;
        Some(Err(WireError::LineTooLong {
            limit: self.max_len,
        }))
    }
}

/// Reads lines from an async byte stream (for example the read half of a Unix socket).
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    decoder: LineDecoder,
    chunk: Box<[u8]>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Wraps `reader` with a [`LineDecoder::new`] decoder.
    pub fn new(reader: R) -> Self {
        Self::with_decoder(reader, LineDecoder::new())
    }

    /// Wraps `reader` with the given decoder (for a custom line limit).
    pub fn with_decoder(reader: R, decoder: LineDecoder) -> Self {
        Self {
            reader,
            decoder,
            chunk: vec![0; 64 * 1024].into_boxed_slice(),
        }
    }

    /// Returns the next line: `Ok(None)` at end of stream, `Ok(Some(Err(_)))` for a line that
    /// had to be skipped (reading may continue), `Err(_)` when reading itself failed.
    ///
    /// Cancel-safe: dropping the future loses no data.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Result<Vec<u8>, WireError>>> {
        loop {
            if let Some(line) = self.decoder.next_line() {
                return Ok(Some(line));
            }
            let read = self.reader.read(&mut self.chunk).await?;
            if read == 0 {
                if self.decoder.pending_len() > 0 {
                    tracing::debug!(
                        bytes = self.decoder.pending_len(),
                        "QMP stream ended in the middle of a line; ignoring the partial line"
                    );
                }
                return Ok(None);
            }
            self.decoder.push(&self.chunk[..read]);
        }
    }

    /// Gives back the underlying reader; buffered bytes are lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(decoder: &mut LineDecoder) -> Vec<Result<String, String>> {
        std::iter::from_fn(|| decoder.next_line())
            .map(|r| {
                r.map(|l| String::from_utf8(l).unwrap())
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[test]
    fn two_messages_in_one_push_come_out_as_two_lines() {
        let mut decoder = LineDecoder::new();
        decoder.push(b"{\"return\": {}}\r\n{\"event\": \"STOP\"}\n");
        assert_eq!(
            lines(&mut decoder),
            vec![
                Ok("{\"return\": {}}".into()),
                Ok("{\"event\": \"STOP\"}".into())
            ]
        );
    }

    #[test]
    fn a_message_split_across_pushes_is_joined() {
        let mut decoder = LineDecoder::new();
        decoder.push(b"{\"retu");
        assert!(lines(&mut decoder).is_empty());
        decoder.push(b"rn\": 1}\r");
        assert!(lines(&mut decoder).is_empty());
        decoder.push(b"\n");
        assert_eq!(lines(&mut decoder), vec![Ok("{\"return\": 1}".into())]);
    }

    #[test]
    fn blank_lines_are_skipped() {
        let mut decoder = LineDecoder::new();
        decoder.push(b"\r\n\n  \r\n{}\n");
        assert_eq!(lines(&mut decoder), vec![Ok("{}".into())]);
    }

    #[test]
    fn an_overlong_line_is_reported_once_and_the_next_line_still_arrives() {
        let mut decoder = LineDecoder::with_max_len(8);
        decoder.push(b"0123456789");
        let first = lines(&mut decoder);
        assert_eq!(first.len(), 1);
        assert!(
            first[0]
                .as_ref()
                .unwrap_err()
                .contains("longer than 8 bytes")
        );
        decoder.push(b"abcdefghij");
        assert!(lines(&mut decoder).is_empty());
        decoder.push(b"xyz\n{\"ok\":1}\n");
        assert_eq!(lines(&mut decoder), vec![Ok("{\"ok\":1}".into())]);
    }

    #[test]
    fn an_overlong_complete_line_is_rejected_but_its_neighbours_are_kept() {
        let mut decoder = LineDecoder::with_max_len(4);
        decoder.push(b"{}\n0123456789\n[]\n");
        let got = lines(&mut decoder);
        assert_eq!(got[0], Ok("{}".into()));
        assert!(got[1].is_err());
        assert_eq!(got[2], Ok("[]".into()));
    }

    #[test]
    fn many_small_pushes_keep_the_buffer_compact() {
        let mut decoder = LineDecoder::new();
        for i in 0..1000 {
            decoder.push(format!("{{\"n\":{i}}}\n").as_bytes());
            assert_eq!(lines(&mut decoder), vec![Ok(format!("{{\"n\":{i}}}"))]);
        }
        assert_eq!(decoder.pending_len(), 0);
        assert!(decoder.buf.len() < 64);
    }

    #[tokio::test]
    async fn line_reader_returns_none_at_end_of_stream() {
        let data: &[u8] = b"{\"a\":1}\n{\"b\":";
        let mut reader = LineReader::new(data);
        assert_eq!(
            reader.next_line().await.unwrap().unwrap().unwrap(),
            b"{\"a\":1}"
        );
        assert!(reader.next_line().await.unwrap().is_none());
    }
}
