//! SHA-256 digests: checking the user's, hashing files, reading `SHA256SUMS` files.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::ImageError;

/// Lower-cases `value` and checks that it is a SHA-256 digest (64 hexadecimal characters).
/// A `sha256:` prefix is accepted and dropped.
pub fn parse_digest(value: &str) -> Result<String, ImageError> {
    let trimmed = value.trim();
    let hex = trimmed.strip_prefix("sha256:").unwrap_or(trimmed);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(ImageError::InvalidDigest {
            value: value.to_owned(),
        })
    }
}

/// Lower-case hex of a finished hasher.
pub(crate) fn hex_digest(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of a whole file; `progress` gets the bytes hashed so far.
pub(crate) fn sha256_file(
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<String, ImageError> {
    let mut file = File::open(path).map_err(|e| ImageError::io("open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| ImageError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        done += n as u64;
        progress(done);
    }
    Ok(hex_digest(hasher))
}

/// The digest a `SHA256SUMS` text gives for `file_name`.
///
/// Reads GNU lines (`<hex>  <name>` or `<hex> *<name>`, a name may start with `./`) and BSD
/// lines (`SHA256 (<name>) = <hex>`); other lines are ignored.
pub fn digest_from_sums(text: &str, file_name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim_end_matches('\r');
        let (name, hex) = if let Some(rest) = line.strip_prefix("SHA256 (") {
            let (name, hex) = rest.split_once(") = ")?;
            (name, hex)
        } else {
            let (hex, name) = line.split_once(char::is_whitespace)?;
            let name = name.trim_start();
            (name.strip_prefix('*').unwrap_or(name), hex)
        };
        let name = name.strip_prefix("./").unwrap_or(name);
        if name == file_name {
            parse_digest(hex).ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn digests_are_checked_and_lower_cased() {
        assert_eq!(parse_digest(&D.to_uppercase()).ok().as_deref(), Some(D));
        assert_eq!(
            parse_digest(&format!("sha256:{D}")).ok().as_deref(),
            Some(D)
        );
        assert!(parse_digest("abc").is_err());
        assert!(parse_digest(&format!("{}g", &D[..63])).is_err());
    }

    #[test]
    fn sums_files_of_both_styles_are_read() {
        let gnu = format!("{D}  other.qcow2\n{D} *./disk.qcow2\n");
        assert_eq!(digest_from_sums(&gnu, "disk.qcow2").as_deref(), Some(D));
        assert_eq!(digest_from_sums(&gnu, "missing.qcow2"), None);
        let bsd = format!("SHA256 (disk.qcow2) = {D}\n");
        assert_eq!(digest_from_sums(&bsd, "disk.qcow2").as_deref(), Some(D));
        assert_eq!(digest_from_sums("garbage line\n", "garbage"), None);
    }
}
