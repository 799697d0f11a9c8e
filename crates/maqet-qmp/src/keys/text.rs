//! Typing text: which key chord produces each character on a US layout.

/// A character with no key on a US layout (accented letters, emoji, control characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "character {ch:?} at position {index} has no key on a US keyboard layout; remove or replace it"
)]
pub struct UntypeableChar {
    /// The character.
    pub ch: char,
    /// Its position in the text, counted in characters from 0.
    pub index: usize,
}

/// The US-layout chord (keys pressed together) that types `ch`, if there is one.
pub fn char_to_chord(ch: char) -> Option<Vec<&'static str>> {
    if ch.is_ascii_uppercase() {
        return Some(vec!["shift", plain_key(ch.to_ascii_lowercase())?]);
    }
    if let Some(key) = plain_key(ch) {
        return Some(vec![key]);
    }
    let base = match ch {
        '~' => '`',
        '!' => '1',
        '@' => '2',
        '#' => '3',
        '$' => '4',
        '%' => '5',
        '^' => '6',
        '&' => '7',
        '*' => '8',
        '(' => '9',
        ')' => '0',
        '_' => '-',
        '+' => '=',
        '{' => '[',
        '}' => ']',
        '|' => '\\',
        ':' => ';',
        '"' => '\'',
        '<' => ',',
        '>' => '.',
        '?' => '/',
        _ => return None,
    };
    Some(vec!["shift", plain_key(base)?])
}

/// Turns text into one chord per character; fails on the first character with no key.
///
/// The whole text is checked before returning, so a caller that sends only on `Ok` never types
/// half of it.
pub fn text_to_chords(text: &str) -> Result<Vec<Vec<&'static str>>, UntypeableChar> {
    text.chars()
        .enumerate()
        .map(|(index, ch)| char_to_chord(ch).ok_or(UntypeableChar { ch, index }))
        .collect()
}

/// The key typed without modifiers for `ch`.
fn plain_key(ch: char) -> Option<&'static str> {
    const LETTERS: [&str; 26] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z",
    ];
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    Some(match ch {
        'a'..='z' => LETTERS[usize::from(ch as u8 - b'a')],
        '0'..='9' => DIGITS[usize::from(ch as u8 - b'0')],
        ' ' => "spc",
        '\n' | '\r' => "ret",
        '\t' => "tab",
        '`' => "grave_accent",
        '=' => "equal",
        '-' => "minus",
        '[' => "bracket_left",
        ']' => "bracket_right",
        '\\' => "backslash",
        ';' => "semicolon",
        '\'' => "apostrophe",
        ',' => "comma",
        '.' => "dot",
        '/' => "slash",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::is_qcode;

    #[test]
    fn hello_world_types_with_shift_for_capitals_and_bang() {
        let chords = text_to_chords("Hello, World!\n").unwrap();
        let expected: Vec<Vec<&str>> = vec![
            vec!["shift", "h"],
            vec!["e"],
            vec!["l"],
            vec!["l"],
            vec!["o"],
            vec!["comma"],
            vec!["spc"],
            vec!["shift", "w"],
            vec!["o"],
            vec!["r"],
            vec!["l"],
            vec!["d"],
            vec!["shift", "1"],
            vec!["ret"],
        ];
        assert_eq!(chords, expected);
    }

    #[test]
    fn tab_and_carriage_return_are_typeable() {
        assert_eq!(
            text_to_chords("\t\r").unwrap(),
            vec![vec!["tab"], vec!["ret"]]
        );
    }

    #[test]
    fn accented_letter_fails_with_its_character_index() {
        let err = text_to_chords("café au lait").unwrap_err();
        assert_eq!(err, UntypeableChar { ch: 'é', index: 3 });
        assert!(err.to_string().contains("position 3"));
    }

    #[test]
    fn emoji_and_control_characters_fail() {
        assert_eq!(text_to_chords("ok🙂").unwrap_err().index, 2);
        assert_eq!(text_to_chords("\u{7}").unwrap_err().ch, '\u{7}');
    }

    #[test]
    fn every_printable_ascii_character_maps_to_valid_qcodes() {
        for ch in (0x20u8..0x7f).map(char::from) {
            let chord = char_to_chord(ch).unwrap_or_else(|| panic!("{ch:?} has no chord"));
            assert!(chord.iter().all(|k| is_qcode(k)), "{ch:?} -> {chord:?}");
        }
    }

    #[test]
    fn shifted_symbols_use_their_us_base_key() {
        let cases = [
            ('~', "grave_accent"),
            ('_', "minus"),
            ('+', "equal"),
            ('{', "bracket_left"),
            ('}', "bracket_right"),
            ('|', "backslash"),
            (':', "semicolon"),
            ('"', "apostrophe"),
            ('<', "comma"),
            ('>', "dot"),
            ('?', "slash"),
            (')', "0"),
            ('@', "2"),
        ];
        for (ch, base) in cases {
            assert_eq!(char_to_chord(ch), Some(vec!["shift", base]), "{ch:?}");
        }
    }
}
