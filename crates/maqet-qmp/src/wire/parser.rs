//! QEMU's JSON parser: tokens of one message into a value, failing with QEMU's own words
//! (`"JSON parse error, expecting value"`, `"... missing : in object pair"`, ...).
//!
//! The first error wins, as in QEMU. Integers become `i64` or `u64` when they fit and `f64`
//! otherwise; strings may be single-quoted; `\u` escapes may pair surrogates.

use std::collections::VecDeque;

use serde_json::{Map, Number, Value};

use super::lexer::{Token, TokenKind};

struct Parser {
    tokens: VecDeque<Token>,
    error: Option<String>,
}

/// Parses one message's tokens; `Err` holds QEMU's description of what is wrong.
pub(crate) fn parse(tokens: Vec<Token>) -> Result<Value, String> {
    let mut parser = Parser {
        tokens: tokens.into(),
        error: None,
    };
    let value = parser.value();
    match (value, parser.error) {
        (_, Some(error)) => Err(error),
        (Some(value), None) => Ok(value),
        (None, None) => Err("JSON parse error, expecting value".into()),
    }
}

impl Parser {
    fn fail(&mut self, message: impl std::fmt::Display) {
        if self.error.is_none() {
            self.error = Some(format!("JSON parse error, {message}"));
        }
    }

    fn peek_kind(&self) -> Option<TokenKind> {
        self.tokens.front().map(|t| t.kind)
    }

    fn pop(&mut self) -> Option<Token> {
        self.tokens.pop_front()
    }

    fn value(&mut self) -> Option<Value> {
        let Some(kind) = self.peek_kind() else {
            self.fail("premature EOI");
            return None;
        };
        match kind {
            TokenKind::LCurly => self.object(),
            TokenKind::LSquare => self.array(),
            TokenKind::Integer | TokenKind::Float | TokenKind::String => self.literal(),
            TokenKind::Keyword => self.keyword(),
            _ => {
                self.fail("expecting value");
                None
            }
        }
    }

    fn object(&mut self) -> Option<Value> {
        self.pop();
        let mut map = Map::new();
        match self.peek_kind() {
            None => {
                self.fail("premature EOI");
                return None;
            }
            Some(TokenKind::RCurly) => {
                self.pop();
                return Some(Value::Object(map));
            }
            Some(_) => {}
        }
        self.pair(&mut map)?;
        loop {
            let Some(token) = self.pop() else {
                self.fail("premature EOI");
                return None;
            };
            match token.kind {
                TokenKind::RCurly => return Some(Value::Object(map)),
                TokenKind::Comma => self.pair(&mut map)?,
                _ => {
                    self.fail("expected separator in dict");
                    return None;
                }
            }
        }
    }

    fn pair(&mut self, map: &mut Map<String, Value>) -> Option<()> {
        if self.peek_kind().is_none() {
            self.fail("premature EOI");
            return None;
        }
        let Some(Value::String(key)) = self.value() else {
            self.fail("key is not a string in object");
            return None;
        };
        match self.pop() {
            None => {
                self.fail("premature EOI");
                return None;
            }
            Some(token) if token.kind != TokenKind::Colon => {
                self.fail("missing : in object pair");
                return None;
            }
            Some(_) => {}
        }
        let Some(value) = self.value() else {
            self.fail("Missing value in dict");
            return None;
        };
        if map.contains_key(&key) {
            self.fail("duplicate key");
            return None;
        }
        map.insert(key, value);
        Some(())
    }

    fn array(&mut self) -> Option<Value> {
        self.pop();
        let mut list = Vec::new();
        match self.peek_kind() {
            None => {
                self.fail("premature EOI");
                return None;
            }
            Some(TokenKind::RSquare) => {
                self.pop();
                return Some(Value::Array(list));
            }
            Some(_) => {}
        }
        loop {
            let Some(value) = self.value() else {
                self.fail("expecting value");
                return None;
            };
            list.push(value);
            let Some(token) = self.pop() else {
                self.fail("premature EOI");
                return None;
            };
            match token.kind {
                TokenKind::RSquare => return Some(Value::Array(list)),
                TokenKind::Comma => {}
                _ => {
                    self.fail("expected separator in list");
                    return None;
                }
            }
        }
    }

    fn keyword(&mut self) -> Option<Value> {
        let token = self.pop()?;
        match token.text.as_slice() {
            b"true" => Some(Value::Bool(true)),
            b"false" => Some(Value::Bool(false)),
            b"null" => Some(Value::Null),
            other => {
                let text = String::from_utf8_lossy(other).into_owned();
                self.fail(format_args!("invalid keyword '{text}'"));
                None
            }
        }
    }

    fn literal(&mut self) -> Option<Value> {
        let token = self.pop()?;
        let text = String::from_utf8_lossy(&token.text).into_owned();
        match token.kind {
            TokenKind::String => match unquote(&token.text) {
                Ok(s) => Some(Value::String(s)),
                Err(message) => {
                    self.fail(message);
                    None
                }
            },
            TokenKind::Integer => Some(integer(&text)),
            _ => Some(float(&text)),
        }
    }
}

fn integer(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        return Value::Number(n.into());
    }
    if let Ok(n) = text.parse::<u64>() {
        return Value::Number(n.into());
    }
    float(text)
}

/// A float as QEMU reads it; JSON has no infinity, so an overflowing one becomes `null`.
fn float(text: &str) -> Value {
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.get(..4)?;
    let text = std::str::from_utf8(digits).ok()?;
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// The contents of a quoted string token, with escapes resolved and UTF-8 checked.
fn unquote(token: &[u8]) -> Result<String, String> {
    let inner = token
        .get(1..token.len().saturating_sub(1))
        .unwrap_or_default();
    let mut out = String::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let byte = inner[i];
        if byte != b'\\' {
            let end = (i + 4).min(inner.len());
            let chunk = &inner[i..end];
            let valid = match std::str::from_utf8(chunk) {
                Ok(text) => text,
                Err(err) if err.valid_up_to() > 0 => {
                    std::str::from_utf8(&chunk[..err.valid_up_to()]).unwrap_or_default()
                }
                Err(_) => return Err("invalid UTF-8 sequence in string".into()),
            };
            let Some(c) = valid.chars().next() else {
                return Err("invalid UTF-8 sequence in string".into());
            };
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let begin = i;
        let Some(&escape) = inner.get(i + 1) else {
            return Err("invalid escape sequence in string".into());
        };
        i += 2;
        let simple = match escape {
            b'"' => Some('"'),
            b'\'' => Some('\''),
            b'\\' => Some('\\'),
            b'/' => Some('/'),
            b'b' => Some('\u{8}'),
            b'f' => Some('\u{c}'),
            b'n' => Some('\n'),
            b'r' => Some('\r'),
            b't' => Some('\t'),
            b'u' => None,
            _ => return Err("invalid escape sequence in string".into()),
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        let mut code = hex4(&inner[i..]);
        i += 4;
        if let Some(lead @ 0xD800..=0xDBFF) = code
            && inner.get(i) == Some(&b'\\')
            && inner.get(i + 1) == Some(&b'u')
        {
            code = match hex4(inner.get(i + 2..).unwrap_or_default()) {
                Some(trail @ 0xDC00..=0xDFFF) => {
                    i += 6;
                    Some(0x10000 + ((lead & 0x3FF) << 10) + (trail & 0x3FF))
                }
                _ => None,
            };
        }
        match code.and_then(char::from_u32) {
            Some(c) => out.push(c),
            None => {
                let end = i.min(inner.len());
                let shown = String::from_utf8_lossy(&inner[begin..end]).into_owned();
                return Err(format!("{shown} is not a valid Unicode character"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_decode_escapes_and_surrogate_pairs() {
        assert_eq!(unquote(br#""a\"\u00e9\ud83d\ude00""#).unwrap(), "a\"é😀");
        assert_eq!(unquote(b"'it\\'s'").unwrap(), "it's");
        assert_eq!(
            unquote(br#""\ud800""#).unwrap_err(),
            "\\ud800 is not a valid Unicode character"
        );
        assert_eq!(
            unquote(br#""\q""#).unwrap_err(),
            "invalid escape sequence in string"
        );
        assert_eq!(
            unquote(b"\"\xc3\"").unwrap_err(),
            "invalid UTF-8 sequence in string"
        );
    }

    #[test]
    fn numbers_are_integers_when_they_fit() {
        assert_eq!(integer("-0"), json!(0));
        assert_eq!(integer("18446744073709551615"), json!(u64::MAX));
        assert_eq!(
            integer("18446744073709551616"),
            json!(1.8446744073709552e19)
        );
        assert_eq!(float("2.50"), json!(2.5));
        assert_eq!(float("1e400"), Value::Null);
    }
}
