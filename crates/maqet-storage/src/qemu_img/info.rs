//! `qemu-img info --output=json`: format, sizes, backing file and snapshots.

use crate::qcow2::{iso_date, vm_clock};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::QemuImg;
use super::run::Job;
use crate::StorageError;
use crate::paths::absolute;

/// What `qemu-img info` reports about an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// Image format (e.g. `qcow2`).
    pub format: String,
    /// Size the guest sees, in bytes.
    pub virtual_size: u64,
    /// Space used on the host, in bytes (absent on some filesystems).
    pub actual_size: Option<u64>,
    /// Backing image, resolved to a full path when qemu-img can.
    pub backing_file: Option<PathBuf>,
    /// Format of the backing image, when recorded.
    pub backing_format: Option<String>,
    /// Internal snapshots, oldest first.
    pub snapshots: Vec<SnapshotInfo>,
}

/// One internal snapshot of a qcow2 image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// QEMU's numeric id.
    pub id: String,
    /// The snapshot's name (tag).
    pub name: String,
    /// Size of the saved VM state in bytes (0 for disk-only snapshots).
    pub vm_state_size: u64,
    /// Creation time, ISO 8601 UTC (e.g. `2024-05-01T12:00:00Z`).
    pub date: String,
    /// Guest clock at the snapshot, `HH:MM:SS.mmm`.
    pub vm_clock: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawInfo {
    format: String,
    virtual_size: u64,
    actual_size: Option<u64>,
    backing_filename: Option<String>,
    full_backing_filename: Option<String>,
    backing_filename_format: Option<String>,
    #[serde(default)]
    snapshots: Vec<RawSnapshot>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawSnapshot {
    id: String,
    name: String,
    #[serde(default)]
    vm_state_size: u64,
    date_sec: i64,
    vm_clock_sec: u64,
    #[serde(default)]
    vm_clock_nsec: u64,
}

impl QemuImg {
    /// Reads an image's metadata; `force_share` (`-U`) also works while a VM has it open.
    pub fn info(&self, path: &Path, force_share: bool) -> Result<ImageInfo, StorageError> {
        let path = absolute(path).map_err(|e| StorageError::io("resolve", path, e))?;
        if !path.exists() {
            return Err(StorageError::FileNotFound { path });
        }
        let mut args: Vec<OsString> = vec!["info".into(), "--output=json".into()];
        if force_share {
            args.push("-U".into());
        }
        args.extend(["--".into(), path.clone().into_os_string()]);
        let job = Job {
            operation: "read information about",
            path: &path,
            limited: true,
        };
        let stdout = self.run(args, &job, None)?;
        parse_info(&stdout).map_err(|source| StorageError::ToolOutput {
            tool: self.binary.display().to_string(),
            path,
            source,
        })
    }
}

fn parse_info(json: &[u8]) -> Result<ImageInfo, serde_json::Error> {
    let raw: RawInfo = serde_json::from_slice(json)?;
    Ok(ImageInfo {
        format: raw.format,
        virtual_size: raw.virtual_size,
        actual_size: raw.actual_size,
        backing_file: raw
            .full_backing_filename
            .or(raw.backing_filename)
            .map(PathBuf::from),
        backing_format: raw.backing_filename_format,
        snapshots: raw
            .snapshots
            .into_iter()
            .map(|s| SnapshotInfo {
                id: s.id,
                name: s.name,
                vm_state_size: s.vm_state_size,
                date: iso_date(s.date_sec),
                vm_clock: vm_clock(s.vm_clock_sec, s.vm_clock_nsec),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_7_info_json() {
        let json = br#"{
            "snapshots": [{"icount": 0, "vm-clock-nsec": 234000000, "name": "s1", "date-sec": 1714564800,
                           "date-nsec": 5, "vm-clock-sec": 3661, "id": "1", "vm-state-size": 0}],
            "virtual-size": 16777216, "filename": "/vm/a.qcow2", "cluster-size": 65536,
            "format": "qcow2", "actual-size": 200704, "backing-filename": "base.qcow2",
            "full-backing-filename": "/vm/base.qcow2", "backing-filename-format": "raw", "dirty-flag": false
        }"#;
        let info = parse_info(json).unwrap();
        assert_eq!(info.format, "qcow2");
        assert_eq!(info.virtual_size, 16 << 20);
        assert_eq!(
            info.backing_file.as_deref(),
            Some(Path::new("/vm/base.qcow2"))
        );
        assert_eq!(info.backing_format.as_deref(), Some("raw"));
        assert_eq!(
            info.snapshots,
            vec![SnapshotInfo {
                id: "1".into(),
                name: "s1".into(),
                vm_state_size: 0,
                date: "2024-05-01T12:00:00Z".into(),
                vm_clock: "01:01:01.234".into(),
            }]
        );
    }

    #[test]
    fn dates_convert_to_iso() {
        assert_eq!(iso_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_date(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_date(1_709_251_199), "2024-02-29T23:59:59Z");
    }
}
