//! Waiting for text to appear in a file that another process is writing.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use regex::Regex;

const POLL_INTERVAL: Duration = Duration::from_millis(20);
const TAIL_SHOWN_ON_TIMEOUT: usize = 2000;

/// Polls a growing file (such as a serial log) until `pattern` matches; returns the matched text.
///
/// The file may not exist yet. On timeout the error shows the end of the file as it was.
pub fn wait_for_file_text(
    path: impl AsRef<Path>,
    pattern: &str,
    timeout: Duration,
) -> Result<String, String> {
    let path = path.as_ref();
    let regex = Regex::new(pattern).map_err(|e| format!("invalid pattern {pattern:?}: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        if let Some(found) = regex.find(&text) {
            return Ok(found.as_str().to_owned());
        }
        if Instant::now() >= deadline {
            let start = text.len().saturating_sub(TAIL_SHOWN_ON_TIMEOUT);
            let start = (start..text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            return Err(format!(
                "{pattern:?} did not appear in {} within {timeout:?}; the file ends with:\n{}",
                path.display(),
                &text[start..]
            ));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// The SHA-256 of a file, in hex, as `sha256sum` prints it.
pub fn sha256_of_file(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The SHA-256 of `data`, in hex (through [`sha256_of_file`] on a temporary copy).
pub fn sha256_of_bytes(data: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("data");
    std::fs::write(&path, data).expect("write the data");
    sha256_of_file(&path)
}

/// `len` pseudo-random bytes, different for each `seed` (test images and downloads).
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}

/// Every path below `dir`, sorted, links not followed; with `relative`, relative to `dir`.
pub fn paths_below(dir: &Path, relative: bool) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)
            .expect("list a test directory")
            .flatten()
        {
            let path = entry.path();
            if entry.file_type().expect("a file type").is_dir() {
                stack.push(path.clone());
            }
            all.push(match path.strip_prefix(dir) {
                Ok(below) if relative => below.to_path_buf(),
                _ => path,
            });
        }
    }
    all.sort();
    all
}

/// The names in `dir`, sorted; none when `dir` does not exist.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The sizes of the files in `dir`, sorted; none when `dir` does not exist.
pub fn sizes_in(dir: &Path) -> Vec<u64> {
    let mut sizes: Vec<u64> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .collect()
        })
        .unwrap_or_default();
    sizes.sort_unstable();
    sizes
}

/// Runs `qemu-img ARGS`; panics with its stderr when it fails.
pub fn qemu_img(args: &[&str]) {
    let out = std::process::Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img (qemu-utils) must be installed");
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn finds_text_written_after_the_wait_started() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial.log");
        let writer_path = path.clone();
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            let mut file = std::fs::File::create(&writer_path).unwrap();
            file.write_all(b"booting\nMAQET-GUEST BLOCK: vda sr0\r\n")
                .unwrap();
        });
        let found = wait_for_file_text(&path, r"BLOCK: [^\r\n]*", Duration::from_secs(10));
        writer.join().unwrap();
        assert_eq!(found.unwrap(), "BLOCK: vda sr0");
    }

    #[test]
    fn timeout_error_shows_the_end_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial.log");
        std::fs::write(&path, "kernel panic\n").unwrap();
        let err = wait_for_file_text(&path, "READY", Duration::from_millis(50)).unwrap_err();
        assert!(err.contains("kernel panic"), "{err}");
    }

    #[test]
    fn invalid_pattern_is_reported() {
        let err = wait_for_file_text("/nonexistent", "(", Duration::ZERO).unwrap_err();
        assert!(err.contains("invalid pattern"), "{err}");
    }
}
