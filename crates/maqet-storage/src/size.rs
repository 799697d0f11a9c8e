//! Byte sizes as written in VM configurations ("4G", "512M", "1048576").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::StorageError;

const UNITS: [(char, u32); 5] = [('K', 10), ('M', 20), ('G', 30), ('T', 40), ('P', 50)];

/// A size in bytes; parses "4G"-style text (powers of 1024) and prints the shortest exact form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

/// Splits "4G" / "4gib" / "4096" into (digits, shift); `plain_shift` is used without a unit.
fn parse_scaled(input: &str, plain_shift: u32) -> Result<u64, StorageError> {
    let err = |reason| StorageError::InvalidSize {
        input: input.to_owned(),
        reason,
    };
    let text = input.trim().to_ascii_uppercase();
    let text = text
        .strip_suffix("IB")
        .or_else(|| text.strip_suffix('B'))
        .unwrap_or(&text);
    if text.starts_with('-') {
        return Err(err("sizes cannot be negative"));
    }
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(err("not a number"));
    }
    let (digits, shift) = match text.chars().last() {
        Some(last) if last.is_ascii_alphabetic() => {
            let shift = UNITS
                .iter()
                .find(|(unit, _)| *unit == last)
                .map(|(_, shift)| *shift)
                .ok_or_else(|| err("unknown unit"))?;
            (&text[..text.len() - 1], shift)
        }
        _ => (text, plain_shift),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("not a whole number"));
    }
    let value: u64 = digits.parse().map_err(|_| err("number too large"))?;
    if value == 0 {
        return Err(err("size must be greater than zero"));
    }
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| err("number too large"))
}

impl FromStr for ByteSize {
    type Err = StorageError;

    /// Parses "512M", "4G", "10G", "1T", "1024K", "1048576" (bytes); case-insensitive,
    /// optional trailing "B" or "iB"; zero, negatives, fractions and overflow are refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_scaled(s, 0).map(ByteSize)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, shift) in UNITS.iter().rev() {
            let scale = 1u64 << shift;
            if self.0 != 0 && self.0.is_multiple_of(scale) {
                return write!(f, "{}{}", self.0 / scale, unit);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(0) => Err(serde::de::Error::custom("size must be greater than zero")),
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Parses a QEMU `-m` memory value ("4G", "512M", "2048") and returns MiB.
///
/// As in QEMU, a plain number means MiB. The result must be a whole number of MiB;
/// emit it to QEMU as `-m <MiB>M`.
pub fn parse_memory(input: &str) -> Result<u64, StorageError> {
    let bytes = parse_scaled(input, 20)?;
    if !bytes.is_multiple_of(1 << 20) {
        return Err(StorageError::InvalidSize {
            input: input.to_owned(),
            reason: "memory must be a whole number of MiB",
        });
    }
    Ok(bytes >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_case_insensitively() {
        let cases = [
            ("512M", 512 << 20),
            ("4G", 4 << 30),
            ("10g", 10 << 30),
            ("1T", 1 << 40),
            ("1024K", 1 << 20),
            ("1048576", 1_048_576),
            ("4GB", 4 << 30),
            ("4GiB", 4 << 30),
            ("4gib", 4 << 30),
            ("512b", 512),
            (" 2M ", 2 << 20),
        ];
        for (text, bytes) in cases {
            assert_eq!(text.parse::<ByteSize>().unwrap(), ByteSize(bytes), "{text}");
        }
    }

    #[test]
    fn refuses_nonsense() {
        for text in [
            "banana",
            "0",
            "0G",
            "-1G",
            "",
            "G",
            "1.5G",
            "4X",
            "99999999999T",
            "1 G",
        ] {
            let err = text.parse::<ByteSize>().unwrap_err();
            assert!(matches!(err, StorageError::InvalidSize { .. }), "{text}");
        }
    }

    #[test]
    fn displays_shortest_exact_form() {
        assert_eq!(ByteSize(4 << 30).to_string(), "4G");
        assert_eq!(ByteSize(1536 << 20).to_string(), "1536M");
        assert_eq!(ByteSize(1 << 40).to_string(), "1T");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert_eq!(ByteSize(0).to_string(), "0");
    }

    #[test]
    fn serde_round_trips_as_string() {
        let json = serde_json::to_value(ByteSize(10 << 30)).unwrap();
        assert_eq!(json, serde_json::json!("10G"));
        let back: ByteSize = serde_json::from_value(json).unwrap();
        assert_eq!(back, ByteSize(10 << 30));
        let from_number: ByteSize = serde_json::from_value(serde_json::json!(4096)).unwrap();
        assert_eq!(from_number, ByteSize(4096));
    }

    #[test]
    fn memory_plain_numbers_are_mib() {
        assert_eq!(parse_memory("4G").unwrap(), 4096);
        assert_eq!(parse_memory("512").unwrap(), 512);
        assert_eq!(parse_memory("512m").unwrap(), 512);
        assert!(parse_memory("1536K").is_err());
        assert!(parse_memory("0").is_err());
        assert!(parse_memory("lots").is_err());
    }
}
