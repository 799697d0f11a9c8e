//! Small text helpers shared by messages and tables.

/// Bytes as `0 B`, `12.3 MiB`, ...
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Text that came from a guest (agent replies, file names, error descriptions), made safe to
/// print: control characters (newlines, escape sequences, C1 codes) and the Unicode
/// direction overrides are written as `\n`, `\u{1b}`, ... so a hostile guest cannot forge
/// lines or move the cursor on the user's terminal.
pub fn escape_guest_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.extend(c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out
}

/// [`escape_guest_text`] for bytes, which need not be UTF-8 (invalid sequences become U+FFFD).
pub fn escape_guest_bytes(bytes: &[u8]) -> String {
    escape_guest_text(&String::from_utf8_lossy(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn byte_sizes_read_well() {
        assert_eq!(super::human_bytes(0), "0 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn guest_text_cannot_forge_lines_or_drive_the_terminal() {
        assert_eq!(super::escape_guest_text("plain name"), "plain name");
        assert_eq!(super::escape_guest_text("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(
            super::escape_guest_text("\u{1b}[2J\u{9b}x\u{202e}"),
            "\\u{1b}[2J\\u{9b}x\\u{202e}"
        );
        assert_eq!(super::escape_guest_bytes(b"ok\xff\x07"), "ok\u{fffd}\\u{7}");
    }
}
