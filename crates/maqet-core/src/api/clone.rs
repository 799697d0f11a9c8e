//! `clone`: a new VM from an existing one, with copied disks or qcow2 overlays.

use std::fmt::Write as _;
use std::path::PathBuf;

use maqet_macros::{api_method, api_requests};
use maqet_state::{NewVm, StorageEntry};
use maqet_storage::QemuImg;
use serde::Serialize;
use serde_json::{Value, json};

use super::clone_identity::ClonedPort;
use crate::registry::CommandOutput;
use crate::results::VmStatusReport;
use crate::{Maqet, MaqetError};

/// One drive of `clone`.
#[derive(Debug, Clone, Serialize)]
pub struct ClonedDrive {
    /// Drive name.
    pub drive: String,
    /// The source VM's file.
    pub source: Option<PathBuf>,
    /// The clone's file.
    pub file: Option<PathBuf>,
    /// `copied` (full clone), `overlay` (linked clone), `shared` (read-only media and virtfs
    /// directories, used by both VMs) or `not-created` (the source has no image yet; the clone
    /// creates its own on start).
    pub method: &'static str,
}

/// `clone`: the new VM and what happened to each drive.
#[derive(Debug, Clone, Serialize)]
pub struct CloneReport {
    /// The new VM.
    pub vm: VmStatusReport,
    /// The VM it was cloned from.
    pub source: String,
    /// Whether the clone's disks are overlays on the source's.
    pub linked: bool,
    /// The drives.
    pub drives: Vec<ClonedDrive>,
    /// The source's host port forwards and the clone's own port for each.
    pub ports: Vec<ClonedPort>,
    /// What the clone does differently from its source, or still shares, in words.
    pub notes: Vec<String>,
}

impl CommandOutput for CloneReport {
    fn human(&self) -> Option<String> {
        let mut out = format!(
            "cloned VM {} into {} ({})",
            self.source, self.vm.name, self.vm.vm_id
        );
        for d in &self.drives {
            let file = d
                .file
                .as_deref()
                .map_or("-".into(), |p| p.display().to_string());
            let _ = write!(out, "\n  {}: {} {}", d.drive, d.method, file);
        }
        for p in &self.ports {
            let _ = match p.host {
                Some(host) => write!(
                    out,
                    "\n  port: host {} -> {host} (guest {}/{})",
                    p.source_host, p.guest, p.proto
                ),
                None => write!(
                    out,
                    "\n  port: host {} not forwarded (guest {}/{})",
                    p.source_host, p.guest, p.proto
                ),
            };
        }
        for note in &self.notes {
            let _ = write!(out, "\nnote: {note}");
        }
        if self.linked {
            let _ = write!(
                out,
                "\nnote: the clone reads the source's disks; do not start VM {} again until you no longer need {}",
                self.source, self.vm.name
            );
        }
        Some(out)
    }
}

#[api_requests]
impl Maqet {
    /// Copy a stopped VM into a new VM with its own disks (or qcow2 overlays with `--linked`).
    ///
    /// A full clone copies every writable qcow2/raw image with `qemu-img convert`; `--linked`
    /// creates qcow2 overlays backed by the source's images instead (fast and small, but the
    /// source must then stay unchanged). CD-ROMs, read-only drives and shared directories are
    /// used by both VMs. The new files belong to the clone: `rm --clean-storage` deletes them.
    ///
    /// The clone is its own machine: each host port the source forwards in `ports` becomes
    /// the next free one above it (2222 -> 2223), its host name is its own name (a source's
    /// `hostname` is replaced), and its first-boot files (cloud-init seed and instance-id)
    /// are not copied, so cloud-init runs again in it (new SSH host keys and machine id).
    #[api_method(
        name = "clone",
        category = "storage",
        examples = ["maqet clone web web-copy", "maqet clone base test-1 --linked"]
    )]
    pub fn clone_vm(
        &self,
        #[arg(positional, help = "VM to clone (name or id)")] src: String,
        #[arg(positional, help = "Name of the new VM")] new: String,
        #[arg(help = "Create qcow2 overlays on the source's disks instead of copying them")] linked: bool,
    ) -> Result<CloneReport, MaqetError> {
        self.check_new_vm_name(&new)?;
        let source = self.observe(self.vm_record(&src)?);
        if matches!(
            source.status,
            maqet_state::VmStatus::Running | maqet_state::VmStatus::Paused
        ) {
            return Err(MaqetError::IsRunning {
                vm: source.name,
                command: crate::error::NeedsStopped::Clone,
            });
        }
        if self.db()?.find_vm(&new)?.is_some() {
            return Err(MaqetError::NameTaken { name: new });
        }
        let _lock = self.lock_vm(&source)?;
        // The new VM's id comes first: its files live under it.
        let new_id = uuid::Uuid::new_v4().to_string();
        let target_dir = self.dirs().vm_data_dir(&new_id);
        let drives = self.vm_drives(&source)?;
        let mut config = source.config.clone();
        let mut created = CreatedFiles(Vec::new());
        let mut report = Vec::new();
        let qemu_img = QemuImg::new();
        for (index, d) in drives.iter().enumerate() {
            let item = config.pointer_mut(&format!("/storage/{index}"));
            let Some(item) = item.and_then(Value::as_object_mut) else {
                continue;
            };
            let src_file = d.file.clone();
            let shared = !d.kind.is_image() || !d.is_writable();
            let entry = match src_file.as_deref() {
                _ if shared => ClonedDrive {
                    drive: d.name.clone(),
                    source: src_file.clone().or(d.path.clone()),
                    file: src_file.clone().or(d.path.clone()),
                    method: "shared",
                },
                Some(file) if file.exists() => {
                    let ext = if linked { "qcow2" } else { d.kind.as_str() };
                    let dst = target_dir.join(format!("{}.{ext}", d.name));
                    let made = if linked {
                        qemu_img.create_overlay(file, &dst)
                    } else {
                        let format = qemu_img.info(file, false)?.format;
                        let format = if format == "raw" {
                            maqet_storage::ImageFormat::Raw
                        } else {
                            maqet_storage::ImageFormat::Qcow2
                        };
                        let name = d.name.clone();
                        let mut report =
                            |pct: f64| self.progress(&format!("copying drive {name}: {pct:.0}%"));
                        qemu_img.convert(file, &dst, format, Some(&mut report))
                    }?;
                    created.0.push(made.path.clone());
                    item.insert("file".into(), json!(made.path));
                    if linked {
                        item.insert("type".into(), json!("qcow2"));
                        item.remove("backing_file");
                        item.remove("backing_format");
                    }
                    ClonedDrive {
                        drive: d.name.clone(),
                        source: Some(file.to_path_buf()),
                        file: Some(made.path),
                        method: if linked { "overlay" } else { "copied" },
                    }
                }
                _ => {
                    let file = maqet_storage::default_drive_path(&target_dir, d);
                    match &file {
                        Some(path) => item.insert("file".into(), json!(path)),
                        None => item.remove("file"),
                    };
                    ClonedDrive {
                        drive: d.name.clone(),
                        source: src_file.clone(),
                        file,
                        method: "not-created",
                    }
                }
            };
            report.push(entry);
        }
        // A UEFI VM's variable store (boot entries, enrolled keys) goes with it.
        let nvram = crate::firmware::nvram_path(&self.dirs().vm_data_dir(&source.id));
        if nvram.is_file() {
            let dst = crate::firmware::nvram_path(&target_dir);
            if let Some(dir) = dst.parent() {
                crate::dirs::create_private_dir(dir)?;
            }
            let made = qemu_img.convert(&nvram, &dst, maqet_storage::ImageFormat::Qcow2, None)?;
            created.0.push(made.path);
            let note = nvram.with_file_name("uefi-vars.template");
            if note.is_file() {
                std::fs::copy(&note, dst.with_file_name("uefi-vars.template"))
                    .map_err(|e| MaqetError::io("copying the UEFI variable store's note", e))?;
            }
        }
        let shared: Vec<&std::path::Path> = report
            .iter()
            .filter(|d| d.method == "shared")
            .filter_map(|d| d.file.as_deref())
            .collect();
        let identity = self.give_clone_its_identity(&mut config, &source, &new, &shared)?;
        let role = if linked { "overlay" } else { "disk" };
        let record = self.db()?.transaction(|tx| {
            let record = tx.insert_vm_with_id(
                &NewVm {
                    name: new.clone(),
                    config: config.clone(),
                    config_paths: Vec::new(),
                },
                &new_id,
            )?;
            for path in &created.0 {
                tx.register_storage(&StorageEntry {
                    vm_id: record.id.clone(),
                    path: path.clone(),
                    role: if path.ends_with(crate::firmware::NVRAM_FILE) {
                        "nvram".into()
                    } else {
                        role.into()
                    },
                    created_by_maqet: true,
                    size_bytes: std::fs::metadata(path).ok().map(|m| m.len()),
                    created_at: String::new(),
                })?;
            }
            Ok::<_, MaqetError>(record)
        })?;
        created.0.clear();
        Ok(CloneReport {
            vm: VmStatusReport::of(&record),
            source: source.name,
            linked,
            drives: report,
            ports: identity.ports,
            notes: identity.notes,
        })
    }
}

/// Files made for a clone that is not finished; deleted when dropped unless cleared.
struct CreatedFiles(Vec<PathBuf>);

impl Drop for CreatedFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
        if let Some(dir) = self.0.first().and_then(|p| p.parent()) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
