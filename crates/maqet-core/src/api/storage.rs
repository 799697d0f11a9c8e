//! Storage commands: `storage verify`, `storage attach`, `storage-info`, and the drive helpers
//! the snapshot, clone and maintenance commands share.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use maqet_macros::{api_method, api_requests};
use maqet_state::VmRecord;
use maqet_storage::{DriveKind, DriveSpec, QemuImg};
use serde::Serialize;
use serde_json::Value;

use crate::registry::CommandOutput;
use crate::text::human_bytes;
use crate::{Maqet, MaqetError};

/// One drive of `storage-info`.
#[derive(Debug, Clone, Serialize)]
pub struct DriveStorageInfo {
    /// Drive name.
    pub name: String,
    /// Configured type: `qcow2`, `raw` or `virtfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The `file` (or virtfs `path`) in the stored config (`add` writes the default location in).
    pub configured_path: Option<PathBuf>,
    /// The path QEMU uses.
    pub resolved_path: Option<PathBuf>,
    /// Whether that path exists.
    pub exists: bool,
    /// Image format as `qemu-img info` reads it.
    pub format: Option<String>,
    /// Size the guest sees, in bytes.
    pub virtual_size: Option<u64>,
    /// Space used on the host, in bytes.
    pub actual_size: Option<u64>,
    /// Backing image, for overlays.
    pub backing_file: Option<PathBuf>,
    /// Number of internal snapshots.
    pub snapshot_count: usize,
    /// Whether the file is in maqet's storage registry.
    pub registered: bool,
    /// Whether maqet created the file (so `rm --clean-storage` deletes it).
    pub created_by_maqet: bool,
    /// Why the image could not be read, when it exists but `qemu-img` failed.
    pub error: Option<String>,
}

/// `storage-info`: every drive of a VM.
#[derive(Debug, Clone, Serialize)]
pub struct StorageInfoReport {
    /// VM id.
    pub vm_id: String,
    /// VM name.
    pub name: String,
    /// The drives, in config order.
    pub drives: Vec<DriveStorageInfo>,
}

impl CommandOutput for StorageInfoReport {
    fn human(&self) -> Option<String> {
        if self.drives.is_empty() {
            return Some(format!("VM {} has no drives.", self.name));
        }
        let mut out = String::new();
        for d in &self.drives {
            let path = d
                .resolved_path
                .as_deref()
                .map_or("-".into(), |p| p.display().to_string());
            let _ = writeln!(out, "{} ({}): {}", d.name, d.kind, path);
            let state = match (&d.exists, &d.format) {
                (false, _) => "missing (created on start when it has a size)".to_string(),
                (true, Some(format)) => format!(
                    "{format}, virtual {}, on disk {}, {} snapshot(s)",
                    d.virtual_size.map_or("?".into(), human_bytes),
                    d.actual_size.map_or("?".into(), human_bytes),
                    d.snapshot_count
                ),
                (true, None) => d.error.clone().unwrap_or_else(|| "exists".into()),
            };
            let _ = writeln!(out, "  {state}");
            if let Some(backing) = &d.backing_file {
                let _ = writeln!(out, "  backing file: {}", backing.display());
            }
            let owner = match (d.registered, d.created_by_maqet) {
                (true, true) => "created by maqet",
                (true, false) => "yours (kept by rm --clean-storage)",
                (false, _) => "not registered",
            };
            let _ = writeln!(out, "  {owner}");
        }
        Some(out.trim_end().to_string())
    }
}

/// One file checked by `storage verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedFile {
    /// The file.
    pub path: PathBuf,
    /// The drive using it, if it is in the VM's config.
    pub drive: Option<String>,
    /// `ok`, `missing`, `not-created-yet`, `format-mismatch`, `backing-missing` or `unreadable`.
    pub state: String,
    /// What is wrong and what to do, when something is.
    pub detail: Option<String>,
}

/// `storage verify`: whether every file of a VM is present and readable.
#[derive(Debug, Clone, Serialize)]
pub struct StorageVerification {
    /// VM id.
    pub vm_id: String,
    /// VM name.
    pub name: String,
    /// True when no file has a problem.
    pub ok: bool,
    /// The files checked: configured drives, then registered files not in the config.
    pub files: Vec<VerifiedFile>,
}

impl CommandOutput for StorageVerification {
    fn human(&self) -> Option<String> {
        let mut out = format!("Storage of VM {}:", self.name);
        for f in &self.files {
            let mark = if f.detail.is_none() { "+" } else { "-" };
            let _ = write!(out, "\n  [{mark}] {} ({})", f.path.display(), f.state);
            if let Some(detail) = &f.detail {
                let _ = write!(out, ": {detail}");
            }
        }
        out.push_str(if self.ok {
            "\nAll storage verified."
        } else {
            "\nWARNING: some storage files have problems; the VM may fail to start."
        });
        Some(out)
    }
}

#[api_requests]
impl Maqet {
    /// Show each drive of a VM: configured and resolved path, existence, format and sizes.
    #[api_method(
        name = "storage-info",
        category = "storage",
        examples = ["maqet storage-info web", "maqet storage-info web --format json"]
    )]
    pub fn storage_info(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
    ) -> Result<StorageInfoReport, MaqetError> {
        let record = self.vm_record(&vm)?;
        let registry = self.db()?.storage_for_vm(&record.id)?;
        let configured = configured_paths(&record.config);
        let qemu_img = QemuImg::new();
        let drives = self
            .vm_drives(&record)?
            .into_iter()
            .map(|d| {
                let resolved = d.file.clone().or_else(|| d.path.clone());
                let exists = resolved.as_deref().is_some_and(Path::exists);
                let entry = resolved
                    .as_deref()
                    .and_then(|p| registry.iter().find(|e| e.path == p));
                let mut info = DriveStorageInfo {
                    configured_path: configured.get(&d.name).cloned(),
                    kind: d.kind.to_string(),
                    exists,
                    format: None,
                    virtual_size: None,
                    actual_size: None,
                    backing_file: None,
                    snapshot_count: 0,
                    registered: entry.is_some(),
                    created_by_maqet: entry.is_some_and(|e| e.created_by_maqet),
                    error: None,
                    name: d.name,
                    resolved_path: resolved.clone(),
                };
                if let (true, true, Some(path)) = (exists, d.kind.is_image(), resolved.as_deref()) {
                    match qemu_img.info(path, true) {
                        Ok(i) => {
                            info.format = Some(i.format);
                            info.virtual_size = Some(i.virtual_size);
                            info.actual_size = i.actual_size;
                            info.backing_file = i.backing_file;
                            info.snapshot_count = i.snapshots.len();
                        }
                        Err(e) => info.error = Some(maqet_error_chain::error_chain(&e)),
                    }
                }
                info
            })
            .collect();
        Ok(StorageInfoReport {
            vm_id: record.id,
            name: record.name,
            drives,
        })
    }

    /// Check that every storage file of a VM exists and is a readable image of the right format.
    ///
    /// Checks the drives in the VM's config and the files registered for it. A missing
    /// writable image with a `size` is reported as `not-created-yet` (start creates it), not
    /// as a problem. Prints a report; `ok` is false when any file has a problem.
    #[api_method(group = "storage", category = "storage", examples = ["maqet storage verify web"])]
    pub fn verify(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
    ) -> Result<StorageVerification, MaqetError> {
        let record = self.vm_record(&vm)?;
        let qemu_img = QemuImg::new();
        let mut files = Vec::new();
        for d in self.vm_drives(&record)? {
            let Some(path) = d.file.clone().or_else(|| d.path.clone()) else {
                continue;
            };
            let (state, detail) = verify_drive(&qemu_img, &d, &path);
            files.push(VerifiedFile {
                path,
                drive: Some(d.name),
                state: state.to_string(),
                detail,
            });
        }
        for entry in self.db()?.storage_for_vm(&record.id)? {
            if files.iter().any(|f| f.path == entry.path) {
                continue;
            }
            let (state, detail) = if entry.path.exists() {
                ("ok", None)
            } else {
                (
                    "missing",
                    Some("registered for this VM but gone from disk".to_string()),
                )
            };
            files.push(VerifiedFile {
                path: entry.path,
                drive: None,
                state: state.into(),
                detail,
            });
        }
        Ok(StorageVerification {
            ok: files.iter().all(|f| f.detail.is_none()),
            vm_id: record.id,
            name: record.name,
            files,
        })
    }
}

impl Maqet {
    /// A VM's drives, validated, with image drives' default files filled in.
    pub(crate) fn vm_drives(&self, vm: &VmRecord) -> Result<Vec<DriveSpec>, MaqetError> {
        let mut drives = crate::config::VmConfig::from_value(&vm.config).storage;
        maqet_storage::assign_default_files(&mut drives, &self.dirs().vm_data_dir(&vm.id));
        Ok(drives)
    }

    /// Names of the VMs other than `vm_id` whose images sit on `path` through their backing
    /// chain (linked clones and overlays); such a file must not be deleted.
    pub fn backing_dependents(&self, path: &Path, vm_id: &str) -> Result<Vec<String>, MaqetError> {
        let target = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let qemu_img = QemuImg::new();
        let mut names = Vec::new();
        for vm in self.db()?.list_vms(None)? {
            if vm.id == vm_id {
                continue;
            }
            let Ok(drives) = self.vm_drives(&vm) else {
                continue;
            };
            let depends = drives.iter().filter_map(|d| d.file.clone()).any(|file| {
                let mut next = Some(file);
                for _ in 0..16 {
                    let Some(image) = next.take().filter(|p| p.is_file()) else {
                        break;
                    };
                    let Ok(info) = qemu_img.info(&image, true) else {
                        break;
                    };
                    let Some(backing) = info.backing_file else {
                        break;
                    };
                    if backing.canonicalize().unwrap_or_else(|_| backing.clone()) == target {
                        return true;
                    }
                    next = Some(backing);
                }
                false
            });
            if depends {
                names.push(vm.name);
            }
        }
        Ok(names)
    }
}

/// Drive name → the `file`/`path` written in the config.
fn configured_paths(config: &Value) -> std::collections::HashMap<String, PathBuf> {
    crate::config::VmConfig::from_value(config)
        .storage
        .into_iter()
        .filter_map(|d| {
            let path = d.file.or(d.path)?;
            Some((d.name, path))
        })
        .collect()
}

fn verify_drive(qemu_img: &QemuImg, d: &DriveSpec, path: &Path) -> (&'static str, Option<String>) {
    if d.kind == DriveKind::Virtfs {
        return match path.is_dir() {
            true => ("ok", None),
            false if d.is_writable() => ("not-created-yet", None),
            false => (
                "missing",
                Some("the shared directory does not exist".into()),
            ),
        };
    }
    if !path.exists() {
        if d.is_writable() && (d.size.is_some() || d.backing_file.is_some() || d.from.is_some()) {
            return ("not-created-yet", None);
        }
        return (
            "missing",
            Some("the image does not exist and start cannot create it".into()),
        );
    }
    let info = match qemu_img.info(path, true) {
        Ok(info) => info,
        Err(e) => return ("unreadable", Some(maqet_error_chain::error_chain(&e))),
    };
    if info.format != d.kind.as_str() {
        return (
            "format-mismatch",
            Some(format!(
                "the config says {} but the file is {}; fix `type:` of drive {}",
                d.kind, info.format, d.name
            )),
        );
    }
    if let Some(backing) = info.backing_file.filter(|b| !b.exists()) {
        return (
            "backing-missing",
            Some(format!(
                "its backing file {} does not exist",
                backing.display()
            )),
        );
    }
    ("ok", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linked_clone_makes_the_source_image_a_dependency() {
        let dir = tempfile::tempdir().unwrap();
        let maqet = crate::maqet::maqet_in(dir.path());
        let base = dir.path().join("base.qcow2");
        QemuImg::new()
            .create(
                &base,
                maqet_storage::ImageFormat::Qcow2,
                Some("8M".parse().unwrap()),
                None,
            )
            .unwrap();
        let config = dir.path().join("base.yaml");
        std::fs::write(
            &config,
            format!("storage:\n  - name: hdd\n    file: {}\n", base.display()),
        )
        .unwrap();
        let source = maqet.add().config(config).name("base").send().unwrap();
        assert!(
            maqet
                .backing_dependents(&base, &source.0.vm_id)
                .unwrap()
                .is_empty()
        );

        let clone = maqet.clone_vm("base", "thin").linked(true).send().unwrap();
        assert_eq!(clone.drives[0].method, "overlay");
        assert_eq!(
            maqet.backing_dependents(&base, &source.0.vm_id).unwrap(),
            ["thin"]
        );
    }
}
