//! `storage attach`: a new VM built around an existing image.

use std::path::{Path, PathBuf};

use maqet_macros::{api_method, api_requests};
use maqet_state::{NewVm, StorageEntry};
use maqet_storage::QemuImg;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::config;
use crate::registry::CommandOutput;
use crate::results::VmStatusReport;
use crate::{Maqet, MaqetError};

/// `storage attach`: the new VM and the drive added to it.
#[derive(Debug, Clone, Serialize)]
pub struct AttachedStorage {
    /// The new VM.
    pub vm: VmStatusReport,
    /// Name of the drive added for the file.
    pub drive: String,
    /// The attached file.
    pub path: PathBuf,
    /// Its image format.
    pub format: String,
}

impl CommandOutput for AttachedStorage {
    fn human(&self) -> Option<String> {
        Some(format!(
            "attached {} as drive {} ({}) of new VM {}\nstart it with: maqet start {}",
            self.path.display(),
            self.drive,
            self.format,
            self.vm.name,
            self.vm.name
        ))
    }
}

#[api_requests]
impl Maqet {
    /// Create a VM from a config file with an existing image added as a drive.
    ///
    /// The image (qcow2, raw or ISO) is added to the VM's `storage` list, as a drive named
    /// after the file, and registered as yours: `rm --clean-storage` never deletes it.
    #[api_method(
        group = "storage",
        group_about = "Inspect and manage VM storage files",
        category = "storage",
        examples = ["maqet storage attach web ~/images/debian.qcow2 base.yaml"]
    )]
    pub fn attach(
        &self,
        #[arg(positional, help = "Name of the new VM")] name: String,
        #[arg(positional, help = "Existing image file to attach")] path: PathBuf,
        #[arg(positional, help = "VM config file for the new VM")] config: PathBuf,
    ) -> Result<AttachedStorage, MaqetError> {
        self.check_new_vm_name(&name)?;
        let path = config::absolute(&path);
        if !path.is_file() {
            return Err(MaqetError::ImageMissing { path });
        }
        if self.db()?.find_vm(&name)?.is_some() {
            return Err(MaqetError::NameTaken { name });
        }
        let format = QemuImg::new().info(&path, true)?.format;
        if format != "qcow2" && format != "raw" {
            return Err(MaqetError::invalid(format!(
                "{} is a {format} image; maqet uses qcow2 and raw: convert it with `qemu-img convert -O qcow2`",
                path.display()
            )));
        }
        let mut built = config::build_config(&[config], &Map::new())?;
        let value = &mut built.value;
        if let Some(map) = value.as_object_mut() {
            map.remove("name");
        }
        let taken: Vec<String> = self_drive_names(value);
        let drive = unique_drive_name(&path, &taken);
        let mut item = json!({"name": drive, "type": format, "file": path});
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("iso"))
        {
            item["media"] = json!("cdrom");
        }
        push_drive(value, item);
        config::validate_config(value, None)?;
        // The id comes first: the VM's files live under it.
        let id = uuid::Uuid::new_v4().to_string();
        self.fill_default_drive_files(value, &id)?;
        let size = std::fs::metadata(&path).ok().map(|m| m.len());
        let record = self.db()?.transaction(|tx| {
            let record = tx.insert_vm_with_id(
                &NewVm {
                    name: name.clone(),
                    config: built.value.clone(),
                    config_paths: built.files.clone(),
                },
                &id,
            )?;
            tx.register_storage(&StorageEntry {
                vm_id: record.id.clone(),
                path: path.clone(),
                role: "disk".into(),
                created_by_maqet: false,
                size_bytes: size,
                created_at: String::new(),
            })?;
            Ok::<_, MaqetError>(record)
        })?;
        Ok(AttachedStorage {
            vm: VmStatusReport::of(&record),
            drive,
            path,
            format,
        })
    }
}

fn self_drive_names(config: &Value) -> Vec<String> {
    config::VmConfig::from_value(config)
        .storage
        .into_iter()
        .map(|d| d.name)
        .collect()
}

fn push_drive(config: &mut Value, item: Value) {
    if !config.is_object() {
        *config = Value::Object(Map::new());
    }
    if let Some(map) = config.as_object_mut() {
        let storage = map
            .entry("storage")
            .or_insert_with(|| Value::Array(Vec::new()));
        match storage.as_array_mut() {
            Some(items) => items.push(item),
            None => *storage = Value::Array(vec![item]),
        }
    }
}

/// A valid drive name from a file's stem (`Debian 12.qcow2` → `Debian-12`), unique among `taken`.
pub(crate) fn unique_drive_name(path: &Path, taken: &[String]) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut base: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
        base = format!("disk-{base}");
    }
    base.truncate(maqet_storage::MAX_NAME_LEN - 4);
    let base = base.trim_end_matches('-').to_string();
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_names_come_from_the_file_stem() {
        let taken = vec!["hdd".to_string(), "debian-12".to_string()];
        assert_eq!(
            unique_drive_name(Path::new("/x/My Disk.qcow2"), &taken),
            "My-Disk"
        );
        assert_eq!(
            unique_drive_name(Path::new("/x/2024.img"), &taken),
            "disk-2024"
        );
        assert_eq!(unique_drive_name(Path::new("/x/hdd.raw"), &taken), "hdd-2");
        assert_eq!(
            unique_drive_name(Path::new("/x/debian.12.iso"), &taken),
            "debian-12-2"
        );
        assert!(
            maqet_storage::validate_drive_name(&unique_drive_name(Path::new("/x/.qcow2"), &[]))
                .is_ok()
        );
    }
}
