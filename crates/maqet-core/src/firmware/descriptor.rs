//! QEMU's firmware descriptors (`docs/interop/firmware.json` in QEMU): the JSON files firmware
//! packages install under `/usr/share/qemu/firmware`, read with serde, and the directories
//! they are looked up in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::FirmwareError;

/// The largest descriptor file read (they are under 1 KiB; anything far bigger is not one).
const MAX_DESCRIPTOR_BYTES: u64 = 64 * 1024;

/// One firmware descriptor, with the fields maqet uses (unknown fields are ignored).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Descriptor {
    /// What the firmware is, in the package's words.
    #[serde(default)]
    pub description: String,
    /// `uefi`, `bios`, `openfirmware`, ...
    #[serde(default)]
    pub interface_types: Vec<String>,
    /// How the firmware is loaded.
    pub mapping: Mapping,
    /// The architectures and machine types it runs on.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// `secure-boot`, `enrolled-keys`, `requires-smm`, `acpi-s3`, ...
    #[serde(default)]
    pub features: Vec<String>,
}

/// How a firmware is mapped into the guest.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Mapping {
    /// `flash`, `kernel` or `memory`; maqet uses `flash` firmware.
    pub device: String,
    /// The read-only code image (flash).
    pub executable: Option<FlashFile>,
    /// The variable-store template each VM gets a copy of (flash).
    pub nvram_template: Option<FlashFile>,
    /// The image of `memory` firmware (SeaBIOS style), unused by maqet.
    pub filename: Option<PathBuf>,
}

/// A flash image file and its format.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct FlashFile {
    /// Its path.
    pub filename: PathBuf,
    /// `raw` or `qcow2`.
    #[serde(default = "raw")]
    pub format: String,
}

fn raw() -> String {
    "raw".into()
}

/// An architecture and the machine types (glob patterns such as `pc-q35-*`) of a firmware.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Target {
    /// `x86_64`, `aarch64`, ...
    pub architecture: String,
    /// Machine-type patterns.
    #[serde(default)]
    pub machines: Vec<String>,
}

/// A descriptor and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundDescriptor {
    /// The descriptor file.
    pub path: PathBuf,
    /// Its contents.
    pub descriptor: Descriptor,
}

impl Descriptor {
    /// Whether it lists `feature`.
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// Whether it runs `machine` (a full type like `pc-q35-9.0`) on `arch`.
    pub fn runs(&self, arch: &str, machine: &str) -> bool {
        self.targets
            .iter()
            .any(|t| t.architecture == arch && t.machines.iter().any(|m| glob_matches(m, machine)))
    }
}

/// The directories QEMU's specification says descriptors are searched in, lowest priority
/// first: the distribution's, the administrator's, the user's.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![
        PathBuf::from("/usr/share/qemu/firmware"),
        PathBuf::from("/etc/qemu/firmware"),
    ];
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(home) = config_home {
        dirs.push(home.join("qemu/firmware"));
    }
    dirs
}

/// Every descriptor in `dirs` (lowest priority first), in priority order: a file name in a
/// later directory replaces the same name in an earlier one (an empty file hides it), and the
/// files are then taken in file-name order, as QEMU's specification says.
pub fn load_all(dirs: &[PathBuf]) -> Result<Vec<FoundDescriptor>, FirmwareError> {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                by_name.insert(name, entry.path());
            }
        }
    }
    let mut found = Vec::new();
    for path in by_name.into_values() {
        if let Some(descriptor) = read_descriptor(&path)? {
            found.push(FoundDescriptor { path, descriptor });
        }
    }
    Ok(found)
}

/// Reads one descriptor; `None` for an empty file (which hides a lower-priority one).
fn read_descriptor(path: &Path) -> Result<Option<Descriptor>, FirmwareError> {
    use std::io::Read;
    let unreadable = |source| FirmwareError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut text = String::new();
    file.take(MAX_DESCRIPTOR_BYTES)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| FirmwareError::Malformed {
            path: path.to_path_buf(),
            source,
        })
}

/// Shell-style matching with `*` (any run of characters) and `?` (one character).
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_machine_types() {
        assert!(glob_matches("pc-q35-*", "pc-q35-9.0"));
        assert!(glob_matches("pc-i440fx-*", "pc-i440fx-7.2"));
        assert!(!glob_matches("pc-q35-*", "pc-i440fx-7.2"));
        assert!(glob_matches("virt-?.0", "virt-8.0"));
        assert!(!glob_matches("virt", "virt-8.0"));
    }

    #[test]
    fn later_directories_replace_earlier_files_and_empty_files_hide_them() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let doc = |desc: &str| {
            format!(
                r#"{{"description": "{desc}", "interface-types": ["uefi"],
                  "mapping": {{"device": "flash", "executable": {{"filename": "/c.fd"}}}},
                  "targets": [{{"architecture": "x86_64", "machines": ["pc-q35-*"]}}],
                  "features": ["secure-boot"], "tags": []}}"#
            )
        };
        std::fs::write(a.join("10-one.json"), doc("one")).unwrap();
        std::fs::write(a.join("20-two.json"), doc("two")).unwrap();
        std::fs::write(b.join("10-one.json"), doc("mine")).unwrap();
        std::fs::write(b.join("20-two.json"), "").unwrap();
        std::fs::write(b.join("README"), "not a descriptor").unwrap();
        let found = load_all(&[a, b.clone()]).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, b.join("10-one.json"));
        assert_eq!(found[0].descriptor.description, "mine");
        assert_eq!(
            found[0]
                .descriptor
                .mapping
                .executable
                .as_ref()
                .unwrap()
                .format,
            "raw"
        );
        assert!(found[0].descriptor.has("secure-boot"));
        assert!(found[0].descriptor.runs("x86_64", "pc-q35-9.0"));
        std::fs::write(b.join("30-bad.json"), "{\"mapping\": 3}").unwrap();
        let err = load_all(std::slice::from_ref(&b)).unwrap_err().to_string();
        assert!(err.contains("30-bad.json"), "{err}");
    }
}
