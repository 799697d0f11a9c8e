//! Framing: bytes in, one JSON value per QMP message out, split by structure as QEMU does.
//!
//! A message ends where its outermost `}` (or `]`, or a scalar) ends; no newline is needed,
//! several messages may come in one read and one message may be split across reads.
//! Malformed input yields [`WireError::Json`] with QEMU's own description, and decoding goes
//! on after it, as QEMU's monitor does.

use std::collections::VecDeque;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::WireError;
use super::lexer::{Lexed, Lexer, Token, TokenKind};
use super::parser;

/// Longest message accepted by default (16 MiB; `query-qmp-schema` replies are a few hundred KiB).
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;

/// QEMU's limit on tokens in one message.
const MAX_TOKEN_COUNT: usize = 2 << 20;
/// QEMU's limit on nested objects and arrays.
const MAX_NESTING: i64 = 1 << 10;

/// Splits a byte stream into JSON values, without doing any I/O itself.
///
/// Bytes are only lexed when [`next_message`](Self::next_message) asks for the next value, so
/// one huge read cannot make the decoder produce an unbounded backlog.
#[derive(Debug)]
pub struct JsonDecoder {
    input: Vec<u8>,
    pos: usize,
    lexer: Lexer,
    tokens: Vec<Token>,
    token_size: usize,
    braces: i64,
    brackets: i64,
    max_len: usize,
    ready: VecDeque<Result<Value, WireError>>,
}

impl Default for JsonDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonDecoder {
    /// Creates a decoder with the [`DEFAULT_MAX_MESSAGE_LEN`] limit.
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_MESSAGE_LEN)
    }

    /// Creates a decoder that rejects messages (and tokens) longer than `max_len` bytes.
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            input: Vec::new(),
            pos: 0,
            lexer: Lexer::new(max_len),
            tokens: Vec::new(),
            token_size: 0,
            braces: 0,
            brackets: 0,
            max_len,
            ready: VecDeque::new(),
        }
    }

    /// Appends bytes just read from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos * 2 >= self.input.len() {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as part of a complete message.
    pub fn pending_len(&self) -> usize {
        self.input.len() - self.pos + self.token_size
    }

    /// Returns the next complete message (or the error QEMU would report), if one is buffered.
    pub fn next_message(&mut self) -> Option<Result<Value, WireError>> {
        while self.ready.is_empty() && self.pos < self.input.len() {
            let byte = self.input[self.pos];
            self.pos += 1;
            let mut lexed = Vec::new();
            self.lexer.feed(byte, &mut |item| lexed.push(item));
            for item in lexed {
                match item {
                    Lexed::Token(token) => self.token(token),
                    Lexed::TooLong => self.fail("JSON token size limit exceeded".into()),
                }
            }
        }
        self.ready.pop_front()
    }

    fn fail(&mut self, desc: String) {
        self.reset();
        self.ready.push_back(Err(WireError::Json { desc }));
    }

    fn reset(&mut self) {
        self.tokens.clear();
        self.token_size = 0;
        self.braces = 0;
        self.brackets = 0;
    }

    /// QEMU's json-streamer: count nesting, check the limits, parse when a value is complete.
    fn token(&mut self, token: Token) {
        match token.kind {
            TokenKind::LCurly => self.braces += 1,
            TokenKind::RCurly => self.braces -= 1,
            TokenKind::LSquare => self.brackets += 1,
            TokenKind::RSquare => self.brackets -= 1,
            TokenKind::Error => {
                // QEMU prints the bytes with `%s`, which stops at a NUL.
                let text = token.text.split(|&b| b == 0).next().unwrap_or_default();
                let stray = String::from_utf8_lossy(text);
                return self.fail(format!("JSON parse error, stray '{stray}'"));
            }
            _ => {}
        }
        if self.token_size + token.text.len() + 1 > self.max_len {
            return self.fail("JSON token size limit exceeded".into());
        }
        if self.tokens.len() + 1 > MAX_TOKEN_COUNT {
            return self.fail("JSON token count limit exceeded".into());
        }
        if self.braces + self.brackets > MAX_NESTING {
            return self.fail("JSON nesting depth limit exceeded".into());
        }
        self.token_size += token.text.len();
        self.tokens.push(token);
        if (self.braces > 0 || self.brackets > 0) && self.braces >= 0 && self.brackets >= 0 {
            return;
        }
        let tokens = std::mem::take(&mut self.tokens);
        self.reset();
        self.ready
            .push_back(parser::parse(tokens).map_err(|desc| WireError::Json { desc }));
    }
}

/// Reads QMP messages from an async byte stream (for example the read half of a Unix socket).
#[derive(Debug)]
pub struct MessageReader<R> {
    reader: R,
    decoder: JsonDecoder,
    chunk: Box<[u8]>,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    /// Wraps `reader` with a [`JsonDecoder::new`] decoder.
    pub fn new(reader: R) -> Self {
        Self::with_decoder(reader, JsonDecoder::new())
    }

    /// Wraps `reader` with the given decoder (for a custom size limit).
    pub fn with_decoder(reader: R, decoder: JsonDecoder) -> Self {
        Self {
            reader,
            decoder,
            chunk: vec![0; 64 * 1024].into_boxed_slice(),
        }
    }

    /// Returns the next message: `Ok(None)` at end of stream, `Ok(Some(Err(_)))` for input
    /// that had to be skipped (reading may continue), `Err(_)` when reading itself failed.
    ///
    /// Cancel-safe: dropping the future loses no data.
    pub async fn next_message(&mut self) -> std::io::Result<Option<Result<Value, WireError>>> {
        loop {
            if let Some(message) = self.decoder.next_message() {
                return Ok(Some(message));
            }
            let read = self.reader.read(&mut self.chunk).await?;
            if read == 0 {
                if self.decoder.pending_len() > 0 {
                    tracing::debug!(
                        bytes = self.decoder.pending_len(),
                        "QMP stream ended in the middle of a message; ignoring the partial message"
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
mod tests;
