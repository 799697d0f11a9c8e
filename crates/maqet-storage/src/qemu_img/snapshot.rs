//! Internal qcow2 snapshots of a stopped VM's image (`qemu-img snapshot -c/-a/-d`).
//!
//! Snapshots are looked up by name only. Listing uses `-U`, so it also works (read-only)
//! while a VM holds the image; writing operations then fail with [`StorageError::ImageInUse`]
//! instead of pretending the snapshot is missing.
//!
//! A shared listing reads the snapshot table straight from the file ([`crate::qcow2`]), so
//! each operation costs one `qemu-img` process; `qemu-img info` is only run when that read
//! fails or the file is not qcow2, and then gives the same results and errors as before.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::run::Job;
use super::{ImageInfo, QemuImg, SnapshotInfo};
use crate::StorageError;
use crate::paths::{absolute, check_writable_location};

/// Checks a snapshot name: non-empty, not purely numeric (QEMU would read it as an id),
/// no control characters.
pub fn validate_snapshot_name(name: &str) -> Result<(), StorageError> {
    let refuse = |reason| {
        Err(StorageError::InvalidSnapshotName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.trim().is_empty() {
        return refuse("the name is empty");
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return refuse("purely numeric names are confused with snapshot ids; add a letter");
    }
    if name.chars().any(char::is_control) {
        return refuse("control characters are not allowed");
    }
    Ok(())
}

impl QemuImg {
    /// Lists a qcow2 image's snapshots; without `force_share`, fails if a VM holds the image.
    pub fn snapshot_list(
        &self,
        path: &Path,
        force_share: bool,
    ) -> Result<Vec<SnapshotInfo>, StorageError> {
        // Reading the file ignores QEMU's image locks, which only `-U` does as well.
        if force_share {
            match crate::qcow2::read_snapshots(path) {
                Ok(Some(snapshots)) => return Ok(snapshots),
                // Not qcow2: `info` names the real format in the error.
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(%error, "falling back to qemu-img info");
                }
            }
        }
        Ok(self.snapshot_capable_info(path, force_share)?.snapshots)
    }

    /// Whether a snapshot with this name exists (read with `-U`, so safe on a running VM).
    pub fn snapshot_exists(&self, path: &Path, name: &str) -> Result<bool, StorageError> {
        Ok(self
            .snapshot_list(path, true)?
            .iter()
            .any(|s| s.name == name))
    }

    /// Creates a snapshot; an existing one with that name is an error unless `overwrite`,
    /// in which case the old one is deleted first.
    pub fn snapshot_create(
        &self,
        path: &Path,
        name: &str,
        overwrite: bool,
    ) -> Result<(), StorageError> {
        validate_snapshot_name(name)?;
        let path = writable_image(path)?;
        if self
            .snapshot_list(&path, true)?
            .iter()
            .any(|s| s.name == name)
        {
            if !overwrite {
                return Err(StorageError::SnapshotExists {
                    name: name.to_owned(),
                    image: path,
                });
            }
            self.snapshot_command(&path, "-d", name, "delete a snapshot of")?;
        }
        self.snapshot_command(&path, "-c", name, "create a snapshot of")
    }

    /// Reverts the image to a snapshot (the image must not be in use).
    pub fn snapshot_apply(&self, path: &Path, name: &str) -> Result<(), StorageError> {
        let path = self.existing_snapshot(path, name)?;
        self.snapshot_command(&path, "-a", name, "apply a snapshot to")
    }

    /// Deletes a snapshot (the image must not be in use).
    pub fn snapshot_delete(&self, path: &Path, name: &str) -> Result<(), StorageError> {
        let path = self.existing_snapshot(path, name)?;
        self.snapshot_command(&path, "-d", name, "delete a snapshot of")
    }

    fn existing_snapshot(&self, path: &Path, name: &str) -> Result<PathBuf, StorageError> {
        validate_snapshot_name(name)?;
        let path = writable_image(path)?;
        let snapshots = self.snapshot_list(&path, true)?;
        if snapshots.iter().any(|s| s.name == name) {
            return Ok(path);
        }
        Err(StorageError::SnapshotNotFound {
            name: name.to_owned(),
            available: snapshots.into_iter().map(|s| s.name).collect(),
        })
    }

    fn snapshot_capable_info(
        &self,
        path: &Path,
        force_share: bool,
    ) -> Result<ImageInfo, StorageError> {
        let info = self.info(path, force_share)?;
        if info.format != "qcow2" {
            return Err(StorageError::SnapshotUnsupported {
                drive: path.display().to_string(),
                format: info.format,
            });
        }
        Ok(info)
    }

    fn snapshot_command(
        &self,
        path: &Path,
        flag: &str,
        name: &str,
        operation: &'static str,
    ) -> Result<(), StorageError> {
        let args: Vec<OsString> = vec![
            "snapshot".into(),
            flag.into(),
            name.into(),
            "--".into(),
            path.as_os_str().to_owned(),
        ];
        let job = Job {
            operation,
            path,
            limited: true,
        };
        self.run(args, &job, None).map(drop)
    }
}

fn writable_image(path: &Path) -> Result<PathBuf, StorageError> {
    let path = absolute(path).map_err(|e| StorageError::io("resolve", path, e))?;
    check_writable_location(&path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_are_checked() {
        for good in ["before-upgrade", "s1", "1a", "nightly 2024"] {
            validate_snapshot_name(good).unwrap();
        }
        for bad in ["", "  ", "1", "0042", "a\nb", "tab\there"] {
            assert!(
                matches!(
                    validate_snapshot_name(bad),
                    Err(StorageError::InvalidSnapshotName { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
