//! The per-VM record file `vm.json`: a copy of a VM's row (and its storage rows) kept in the
//! VM's own data directory, so the registry can be rebuilt when the database is lost.
//!
//! Like libvirt's per-domain status files: [`StateDb`](crate::StateDb) rewrites the file after
//! every committed change to the VM, and removes it when the VM is removed. A change to the
//! configuration or the registry is written durably (temporary file, `fsync`, `rename`,
//! `fsync` of the directory); a change of runtime state only (status, processes, sockets) is
//! written atomically but without the `fsync`s, as it describes processes a power loss ends. [`read_vm_file`] and
//! [`StateDb::restore_vm`](crate::StateDb::restore_vm) put a lost row back.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{StateError, StorageEntry, VmRecord};

/// The file name of a VM's record file inside its data directory.
pub const VM_FILE_NAME: &str = "vm.json";

/// The format version written into every record file.
const FORMAT: u32 = 1;

/// Largest record file read back (a VM config is a few KiB).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// What a record file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmFile {
    /// Format version of the file.
    pub format: u32,
    /// The VM's row, runtime state included.
    pub vm: VmRecord,
    /// The storage files recorded for the VM.
    pub storage: Vec<StorageEntry>,
}

/// Where the record files of the VMs of the database at `db_path` live: `<dir>/vms/<id>/vm.json`.
pub fn vm_file_path(db_path: &Path, vm_id: &str) -> PathBuf {
    vms_root(db_path).join(vm_id).join(VM_FILE_NAME)
}

/// The directory holding one subdirectory per VM, next to the database file.
pub fn vms_root(db_path: &Path) -> PathBuf {
    db_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("vms")
}

/// Writes `path` atomically: a private temporary file next to it, `fsync`, `rename`, `fsync`
/// of the directory. Creates the directory (mode 0700) when missing.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_replacing(path, bytes, true)
}

/// Writes `path` whole or not at all for a crash of this process (temporary file, `rename`),
/// with the `fsync`s of [`write_atomically`] only when `durable`.
///
/// Without them, a power loss may undo the rename or, on a file system that does not order a
/// replacing rename after the new file's data (ext4's `auto_da_alloc` and btrfs do), leave an
/// empty file behind.
pub fn write_replacing(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    if !dir.is_dir() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes the record file of `vm` into `path`, `durable`ly (with `fsync`s) or not.
pub(crate) fn write_vm_file(
    path: &Path,
    vm: &VmRecord,
    storage: &[StorageEntry],
    durable: bool,
) -> Result<(), StateError> {
    let file = VmFile {
        format: FORMAT,
        vm: vm.clone(),
        storage: storage.to_vec(),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|source| StateError::EncodeConfig {
        vm: vm.name.clone(),
        source,
    })?;
    write_replacing(path, &bytes, durable).map_err(|source| StateError::VmFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Removes a record file; a missing file is fine.
pub(crate) fn remove_vm_file(path: &Path) -> Result<(), StateError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StateError::VmFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads the record file in VM data directory `dir`; `Ok(None)` when there is none.
pub fn read_vm_file(dir: &Path) -> Result<Option<VmFile>, StateError> {
    use std::io::Read;
    let path = dir.join(VM_FILE_NAME);
    let bad = |source: Box<dyn std::error::Error + Send + Sync>| StateError::BadVmFile {
        path: path.clone(),
        source,
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::VmFile {
                path: path.clone(),
                source,
            });
        }
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(bad("not a regular file".into()));
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| bad(e.into()))?;
    let parsed: VmFile = serde_json::from_str(&text).map_err(|e| bad(e.into()))?;
    if parsed.format > FORMAT {
        return Err(bad(format!(
            "format {} is newer than this maqet's {FORMAT}",
            parsed.format
        )
        .into()));
    }
    Ok(Some(parsed))
}

/// Every record file under `vms_root` (`<root>/*/vm.json`), one per VM id, with the
/// directory it was found in. Files that cannot be read are returned as errors.
pub fn scan_vm_files(vms_root: &Path) -> Vec<Result<(PathBuf, VmFile), StateError>> {
    let Ok(entries) = fs::read_dir(vms_root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        // Symbolic links (`<id>` -> a legacy `<name>` directory) would list a VM twice.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for dir in dirs {
        match read_vm_file(&dir) {
            Ok(Some(file)) => {
                if seen.insert(file.vm.id.clone()) {
                    out.push(Ok((dir, file)));
                }
            }
            Ok(None) => {}
            Err(err) => out.push(Err(err)),
        }
    }
    out
}
