//! QEMU's JSON lexer, byte for byte: the same token rules, the same error tokens, the same
//! recovery after an error (skip to a structural character or a control character).
//!
//! QEMU accepts two extensions to JSON that clients rely on: single-quoted strings, and any
//! byte in `0x20..=0xFD` inside strings (UTF-8 is checked later, by the parser). Numbers and
//! keywords end at the first byte that cannot continue them, so a number at the very end of
//! the input waits for the next byte, exactly as QEMU's does.

/// What a finished token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    LCurly,
    RCurly,
    LSquare,
    RSquare,
    Comma,
    Colon,
    Keyword,
    Integer,
    Float,
    String,
    /// Bytes that cannot start or continue a token (QEMU's `JSON_ERROR`).
    Error,
}

/// One token and its bytes (strings keep their quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) text: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Recovery,
    DqString,
    DqEscape,
    SqString,
    SqEscape,
    Zero,
    Sign,
    Digits,
    Mantissa,
    MantissaDigits,
    ExpE,
    ExpSign,
    ExpDigits,
    Keyword,
    Whitespace,
}

/// Where a byte takes the lexer.
enum Next {
    /// Stay inside a token (or in recovery), in this state.
    State(State),
    /// A token ends.
    Emit(TokenKind),
    /// Whitespace ended; nothing to emit.
    Skip,
    /// Recovery is over; lex the byte again from the start.
    Resync,
}

fn step(state: State, byte: u8) -> (Next, bool) {
    use Next::{Emit, Resync, Skip, State as S};
    let consume = |next| (next, false);
    let look = |next| (next, true);
    let error = (Emit(TokenKind::Error), false);
    let digit = byte.is_ascii_digit();
    match state {
        State::Recovery => match byte {
            b'\t' => consume(S(State::Recovery)),
            0..=0x1f | 0xfe | 0xff | b'[' | b']' | b'{' | b'}' | b':' | b',' => look(Resync),
            _ => consume(S(State::Recovery)),
        },
        State::DqEscape | State::SqEscape => match byte {
            0x20..=0xfd if state == State::DqEscape => consume(S(State::DqString)),
            0x20..=0xfd => consume(S(State::SqString)),
            _ => error,
        },
        State::DqString | State::SqString => {
            let (quote, escape, same) = if state == State::DqString {
                (b'"', State::DqEscape, State::DqString)
            } else {
                (b'\'', State::SqEscape, State::SqString)
            };
            match byte {
                b'\\' => consume(S(escape)),
                b if b == quote => consume(Emit(TokenKind::String)),
                0x20..=0xfd => consume(S(same)),
                _ => error,
            }
        }
        State::Zero => match byte {
            b'0'..=b'9' => error,
            b'.' => consume(S(State::Mantissa)),
            b'e' | b'E' => consume(S(State::ExpE)),
            0..=0x7f => look(Emit(TokenKind::Integer)),
            _ => error,
        },
        State::Sign => match byte {
            b'0' => consume(S(State::Zero)),
            b'1'..=b'9' => consume(S(State::Digits)),
            _ => error,
        },
        State::Digits => match byte {
            _ if digit => consume(S(State::Digits)),
            b'e' | b'E' => consume(S(State::ExpE)),
            b'.' => consume(S(State::Mantissa)),
            0..=0x7f => look(Emit(TokenKind::Integer)),
            _ => error,
        },
        State::Mantissa => match byte {
            _ if digit => consume(S(State::MantissaDigits)),
            _ => error,
        },
        State::MantissaDigits => match byte {
            _ if digit => consume(S(State::MantissaDigits)),
            b'e' | b'E' => consume(S(State::ExpE)),
            0..=0x7f => look(Emit(TokenKind::Float)),
            _ => error,
        },
        State::ExpE => match byte {
            b'-' | b'+' => consume(S(State::ExpSign)),
            _ if digit => consume(S(State::ExpDigits)),
            _ => error,
        },
        State::ExpSign => match byte {
            _ if digit => consume(S(State::ExpDigits)),
            _ => error,
        },
        State::ExpDigits => match byte {
            _ if digit => consume(S(State::ExpDigits)),
            0..=0x7f => look(Emit(TokenKind::Float)),
            _ => error,
        },
        State::Keyword => match byte {
            b'a'..=b'z' => consume(S(State::Keyword)),
            0..=0x7f => look(Emit(TokenKind::Keyword)),
            _ => error,
        },
        State::Whitespace => match byte {
            b' ' | b'\t' | b'\r' | b'\n' => consume(S(State::Whitespace)),
            0..=0x7f => look(Skip),
            _ => error,
        },
        State::Start => match byte {
            b'"' => consume(S(State::DqString)),
            b'\'' => consume(S(State::SqString)),
            b'0' => consume(S(State::Zero)),
            b'1'..=b'9' => consume(S(State::Digits)),
            b'-' => consume(S(State::Sign)),
            b'{' => consume(Emit(TokenKind::LCurly)),
            b'}' => consume(Emit(TokenKind::RCurly)),
            b'[' => consume(Emit(TokenKind::LSquare)),
            b']' => consume(Emit(TokenKind::RSquare)),
            b',' => consume(Emit(TokenKind::Comma)),
            b':' => consume(Emit(TokenKind::Colon)),
            b'a'..=b'z' => consume(S(State::Keyword)),
            b' ' | b'\t' | b'\r' | b'\n' => consume(S(State::Whitespace)),
            _ => error,
        },
    }
}

/// Turns bytes into tokens; keeps the unfinished token between calls.
#[derive(Debug)]
pub(crate) struct Lexer {
    state: State,
    token: Vec<u8>,
    max_token: usize,
}

/// What feeding one byte produced.
pub(crate) enum Lexed {
    /// A finished token.
    Token(Token),
    /// The token under construction grew past the limit and was dropped.
    TooLong,
}

impl Lexer {
    /// A lexer that drops any single token longer than `max_token` bytes.
    pub(crate) fn new(max_token: usize) -> Self {
        Self {
            state: State::Start,
            token: Vec::new(),
            max_token,
        }
    }

    /// Feeds one byte; `out` receives what it finished (at most two tokens).
    pub(crate) fn feed(&mut self, byte: u8, out: &mut impl FnMut(Lexed)) {
        loop {
            let (next, lookahead) = step(self.state, byte);
            if !lookahead {
                self.token.push(byte);
            }
            match next {
                Next::State(state) => {
                    if state == State::Recovery {
                        self.token.clear();
                    }
                    self.state = state;
                }
                Next::Emit(kind) => {
                    let text = std::mem::take(&mut self.token);
                    out(Lexed::Token(Token { kind, text }));
                    self.state = if kind == TokenKind::Error {
                        State::Recovery
                    } else {
                        State::Start
                    };
                }
                Next::Skip | Next::Resync => {
                    self.token.clear();
                    self.state = State::Start;
                }
            }
            if !lookahead {
                break;
            }
        }
        if self.token.len() > self.max_token {
            self.token.clear();
            self.state = State::Start;
            out(Lexed::TooLong);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(input: &[u8]) -> Vec<(TokenKind, String)> {
        let mut lexer = Lexer::new(1 << 20);
        let mut got = Vec::new();
        for &b in input {
            lexer.feed(b, &mut |t| {
                if let Lexed::Token(t) = t {
                    got.push((t.kind, String::from_utf8_lossy(&t.text).into_owned()));
                }
            });
        }
        got
    }

    #[test]
    fn structure_strings_numbers_and_keywords() {
        use TokenKind::*;
        let got = lex(b"{'a': [1, -0.5e+3, \"x\\\"y\"], \"t\": true} ");
        let kinds: Vec<_> = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            vec![
                LCurly, String, Colon, LSquare, Integer, Comma, Float, Comma, String, RSquare,
                Comma, String, Colon, Keyword, RCurly
            ]
        );
        assert_eq!(got[6].1, "-0.5e+3");
        assert_eq!(got[8].1, "\"x\\\"y\"");
    }

    #[test]
    fn a_number_at_the_end_waits_for_the_next_byte() {
        assert!(lex(b"12").is_empty());
        assert_eq!(lex(b"12 ")[0].1, "12");
    }

    #[test]
    fn errors_carry_the_bytes_so_far_and_recover_at_structure() {
        use TokenKind::*;
        let got = lex(b"01 @@ x {}");
        assert_eq!(got[0], (Error, "01".into()));
        // After the error, the lexer skips to the `{`.
        assert_eq!(got[1], (LCurly, "{".into()));
        assert_eq!(got.len(), 3);
        assert_eq!(lex(b"\"a\x01b\"}")[0], (Error, "\"a\x01".into()));
    }
}
