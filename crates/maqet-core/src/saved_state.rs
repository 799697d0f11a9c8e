//! Saved VM states on disk: where they live, the description beside each image, and the disk
//! fingerprints that tell whether the disks still match the saved memory.
//!
//! A state is two files in the VM's data directory: the image (QEMU's migration stream: memory
//! and device state) and its description (JSON: the QEMU command line it was saved under and
//! each disk's size and modification time). The managed save (`stop --save`) is
//! `managed-save.state` + `managed-save.json`; a named state (`stop --save-as NAME`) is
//! `states/NAME.state` + `states/NAME.json`. The image is written under a temporary name and
//! renamed only once QEMU reported the migration completed, after its description: an image
//! under its final name is always whole and described.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::{MaqetError, SavedStateError};

/// Version of the description's layout.
const DESCRIPTION_FORMAT: u32 = 1;
/// The longest state name.
const MAX_NAME_LEN: usize = 64;

/// Which saved state: the managed save, or a named one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StateSlot {
    /// `stop --save`: restored by the next `start`, then removed.
    Managed,
    /// `stop --save-as NAME`: restored by `start --ephemeral --from-state NAME`, kept.
    Named(String),
}

impl StateSlot {
    /// A named slot, once `name` is checked to be a plain file name.
    pub(crate) fn named(name: &str) -> Result<StateSlot, SavedStateError> {
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(StateSlot::Named(name.to_owned()))
        } else {
            Err(SavedStateError::BadName {
                name: name.to_owned(),
            })
        }
    }

    /// The image file in `data_dir`.
    pub(crate) fn image(&self, data_dir: &Path) -> PathBuf {
        match self {
            StateSlot::Managed => data_dir.join("managed-save.state"),
            StateSlot::Named(name) => states_dir(data_dir).join(format!("{name}.state")),
        }
    }

    /// The description file in `data_dir`.
    pub(crate) fn description(&self, data_dir: &Path) -> PathBuf {
        match self {
            StateSlot::Managed => data_dir.join("managed-save.json"),
            StateSlot::Named(name) => states_dir(data_dir).join(format!("{name}.json")),
        }
    }

    /// Removes the image and its description (missing files are fine).
    pub(crate) fn discard(&self, data_dir: &Path) -> Result<(), MaqetError> {
        for file in [self.image(data_dir), self.description(data_dir)] {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(MaqetError::io(
                        format!("cannot remove the saved state {}", file.display()),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The directory of a VM's named states.
pub(crate) fn states_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("states")
}

/// The names of a VM's named states (those with an image), sorted.
pub(crate) fn named_states(data_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(states_dir(data_dir)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".state")
                .filter(|n| !n.starts_with('.'))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// Every saved-state file of a VM (images and descriptions, managed and named), so that
/// `storage orphaned` counts them as the VM's.
pub(crate) fn files_of(data_dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![
        StateSlot::Managed.image(data_dir),
        StateSlot::Managed.description(data_dir),
    ];
    if let Ok(entries) = std::fs::read_dir(states_dir(data_dir)) {
        files.extend(entries.filter_map(Result::ok).map(|e| e.path()));
    }
    files
}

/// A disk file as it was when the state was saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DiskPrint {
    /// The file.
    pub(crate) path: PathBuf,
    /// Its size in bytes.
    pub(crate) len: u64,
    /// Its modification time, in nanoseconds since the epoch.
    pub(crate) mtime_ns: u64,
}

impl DiskPrint {
    /// The file's print now; `None` when it cannot be read (gone).
    pub(crate) fn of(path: &Path) -> Option<DiskPrint> {
        let meta = std::fs::metadata(path).ok()?;
        let mtime_ns = u64::try_from(
            meta.modified()
                .ok()?
                .duration_since(UNIX_EPOCH)
                .ok()?
                .as_nanos(),
        )
        .ok()?;
        Some(DiskPrint {
            path: path.to_owned(),
            len: meta.len(),
            mtime_ns,
        })
    }

    /// What changed since this print, if anything.
    pub(crate) fn change(&self) -> Option<String> {
        match DiskPrint::of(&self.path) {
            None => Some("it is gone".into()),
            Some(now) if now.len != self.len => {
                Some(format!("{} bytes, was {}", now.len, self.len))
            }
            Some(now) if now.mtime_ns != self.mtime_ns => Some("it was written since".into()),
            Some(_) => None,
        }
    }
}

/// What is written beside a saved image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StateDescription {
    /// Layout version ([`DESCRIPTION_FORMAT`]).
    pub(crate) format: u32,
    /// When it was saved (UTC, ISO-8601).
    pub(crate) saved_at: String,
    /// Whether the guest's CPUs ran when it was saved (a restore resumes it then).
    pub(crate) running: bool,
    /// The QEMU command line the state was saved under, binary first.
    pub(crate) qemu_argv: Vec<String>,
    /// The VM's disk files as they were once QEMU had ended.
    pub(crate) disks: Vec<DiskPrint>,
}

impl StateDescription {
    /// A description of a state saved now.
    pub(crate) fn new(
        running: bool,
        qemu_argv: Vec<String>,
        disks: Vec<DiskPrint>,
    ) -> StateDescription {
        StateDescription {
            format: DESCRIPTION_FORMAT,
            running,
            saved_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            qemu_argv,
            disks,
        }
    }

    /// Reads the description at `path` (of VM `vm`).
    pub(crate) fn read(vm: &str, path: &Path) -> Result<StateDescription, SavedStateError> {
        let bad =
            |source: Box<dyn std::error::Error + Send + Sync>| SavedStateError::BadDescription {
                vm: vm.to_owned(),
                path: path.to_owned(),
                source,
            };
        let text = std::fs::read(path).map_err(|e| bad(e.into()))?;
        let description: StateDescription =
            serde_json::from_slice(&text).map_err(|e| bad(e.into()))?;
        if description.format != DESCRIPTION_FORMAT {
            return Err(bad(format!(
                "layout version {} is not the {DESCRIPTION_FORMAT} this maqet reads",
                description.format
            )
            .into()));
        }
        Ok(description)
    }

    /// Writes the description to `path` (atomically, mode 0600).
    pub(crate) fn write(&self, path: &Path) -> Result<(), MaqetError> {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let mut file = crate::atomic_file::AtomicFile::create(path)?;
        let what = || format!("cannot write {}", path.display());
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| MaqetError::io(what(), std::io::Error::other(e)))?;
        file.file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .and_then(|()| file.file().write_all(&text))
            .map_err(|e| MaqetError::io(what(), e))?;
        file.commit()?;
        Ok(())
    }

    /// The first difference between the saved command line and `now`, if any.
    pub(crate) fn argv_difference(&self, now: &[String]) -> Option<String> {
        let saved = &self.qemu_argv;
        let at = saved
            .iter()
            .zip(now)
            .position(|(a, b)| a != b)
            .or_else(|| (saved.len() != now.len()).then(|| saved.len().min(now.len())))?;
        Some(match (saved.get(at), now.get(at)) {
            (Some(was), Some(is)) => {
                format!("QEMU argument {at} is now `{is}`, was `{was}`")
            }
            (Some(was), None) => format!("QEMU argument `{was}` is gone"),
            (None, Some(is)) => format!("QEMU argument `{is}` is new"),
            (None, None) => "the QEMU command line changed".into(),
        })
    }

    /// The first disk that changed since the save, with what changed.
    pub(crate) fn changed_disk(&self) -> Option<(PathBuf, String)> {
        self.disks
            .iter()
            .find_map(|d| d.change().map(|what| (d.path.clone(), what)))
    }
}

/// Quotes `path` for `/bin/sh` (QEMU runs an `exec:` migration target through it).
pub(crate) fn shell_quoted(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_are_plain_file_names() {
        assert!(StateSlot::named("booted-1.2_x").is_ok());
        for bad in ["", ".hidden", "a/b", "..", "a b", &"x".repeat(65)] {
            assert!(StateSlot::named(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_first_argv_difference_is_named() {
        let d = StateDescription::new(
            true,
            vec!["qemu".into(), "-m".into(), "256M".into()],
            vec![],
        );
        let now = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(d.argv_difference(&now(&["qemu", "-m", "256M"])), None);
        assert_eq!(
            d.argv_difference(&now(&["qemu", "-m", "512M"])).as_deref(),
            Some("QEMU argument 2 is now `512M`, was `256M`")
        );
        assert_eq!(
            d.argv_difference(&now(&["qemu", "-m", "256M", "-S"]))
                .as_deref(),
            Some("QEMU argument `-S` is new")
        );
        assert_eq!(
            d.argv_difference(&now(&["qemu", "-m"])).as_deref(),
            Some("QEMU argument `256M` is gone")
        );
    }

    #[test]
    fn paths_are_quoted_for_the_shell() {
        assert_eq!(shell_quoted(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
