//! Where drive files live: resolving config paths, default locations and path safety.

use std::path::{Component, Path, PathBuf};

use crate::{DriveKind, DriveSpec, StorageError};

/// System directories maqet never creates or writes files in (`/dev/shm` excepted).
pub const SYSTEM_DIRS: &[&str] = &[
    "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/proc", "/sys", "/dev",
];

/// Resolves the drives' `file`, `path` and `backing_file` against `base_dir` (the directory
/// of the config file that named them) and expands a leading `~/` to `$HOME`.
///
/// The result is absolute and lexically normalised (`..` removed).
pub fn resolve_paths(drives: &mut [DriveSpec], base_dir: &Path) -> Result<(), StorageError> {
    let base = absolute(base_dir).map_err(|e| StorageError::io("resolve", base_dir, e))?;
    for (index, drive) in drives.iter_mut().enumerate() {
        for (key, slot) in [
            ("file", &mut drive.file),
            ("path", &mut drive.path),
            ("backing_file", &mut drive.backing_file),
        ] {
            if let Some(path) = slot.as_mut() {
                let at = format!("storage[{index}].{key}");
                *path = normalize(&base.join(expand_home(path, &at)?));
            }
        }
        for (key, slot) in [
            ("from", &mut drive.from),
            ("checksums", &mut drive.checksums),
        ] {
            if let Some(text) = slot.as_mut()
                && !text.contains("://")
            {
                let at = format!("storage[{index}].{key}");
                let path = normalize(&base.join(expand_home(Path::new(text.as_str()), &at)?));
                *text = path.to_string_lossy().into_owned();
            }
        }
    }
    Ok(())
}

/// The image path used when a drive has no `file`: `<vm_data_dir>/<name>.qcow2` (or `.raw`).
///
/// Returns `None` for virtfs drives, which have no image.
pub fn default_drive_path(vm_data_dir: &Path, drive: &DriveSpec) -> Option<PathBuf> {
    let extension = match drive.kind {
        DriveKind::Qcow2 => "qcow2",
        DriveKind::Raw => "raw",
        DriveKind::Virtfs => return None,
    };
    Some(vm_data_dir.join(format!("{}.{extension}", drive.name)))
}

/// Sets `file` to [`default_drive_path`] on every image drive that has none.
pub fn assign_default_files(drives: &mut [DriveSpec], vm_data_dir: &Path) {
    for drive in drives.iter_mut().filter(|d| d.file.is_none()) {
        drive.file = default_drive_path(vm_data_dir, drive);
    }
}

/// Refuses a path maqet would create or write when it lies in a system directory.
///
/// The path is normalised and symlinks of its existing ancestors are followed first, so
/// `/tmp/../etc/x` and a link pointing into `/etc` are both refused. `/dev/shm` is allowed.
pub fn check_writable_location(path: &Path) -> Result<(), StorageError> {
    let lexical = normalize(&absolute(path).map_err(|e| StorageError::io("resolve", path, e))?);
    for candidate in [lexical.clone(), resolve_existing_prefix(&lexical)] {
        if candidate.starts_with("/dev/shm") {
            continue;
        }
        if candidate == Path::new("/") {
            return Err(StorageError::UnsafeLocation {
                path: lexical,
                system_dir: PathBuf::from("/"),
            });
        }
        if let Some(dir) = SYSTEM_DIRS.iter().find(|dir| candidate.starts_with(dir)) {
            return Err(StorageError::UnsafeLocation {
                path: lexical,
                system_dir: PathBuf::from(dir),
            });
        }
    }
    Ok(())
}

/// Makes a path absolute against the current directory without touching the filesystem.
pub(crate) fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    std::path::absolute(path).map(|p| normalize(&p))
}

/// Removes `.` and `..` components lexically.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `path` with every symlink in its longest existing prefix resolved; the part that does not
/// exist yet is appended as written.
pub fn resolve_existing_prefix(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            out.extend(rest.iter().rev());
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn expand_home(path: &Path, at: &str) -> Result<PathBuf, StorageError> {
    let Some(text) = path.to_str() else {
        return Ok(path.to_path_buf());
    };
    let rest = match text.strip_prefix('~') {
        None => return Ok(path.to_path_buf()),
        Some("") => "",
        Some(rest) if rest.starts_with('/') => &rest[1..],
        Some(_) => {
            return Err(StorageError::invalid(
                at,
                "only `~/` (your own home) is expanded, not `~user/`; write the full path",
            ));
        }
    };
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home).join(rest)),
        _ => Err(StorageError::invalid(
            at,
            "the path starts with `~` but HOME is not set; write the full path",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive_with_file(file: &str) -> DriveSpec {
        DriveSpec {
            file: Some(PathBuf::from(file)),
            ..DriveSpec::new("d")
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_config_dir() {
        let mut drives = vec![
            drive_with_file("disks/../disks/a.qcow2"),
            drive_with_file("/abs/b.qcow2"),
        ];
        drives[0].backing_file = Some(PathBuf::from("base.qcow2"));
        resolve_paths(&mut drives, Path::new("/home/u/vms")).unwrap();
        assert_eq!(
            drives[0].file.as_deref(),
            Some(Path::new("/home/u/vms/disks/a.qcow2"))
        );
        assert_eq!(
            drives[0].backing_file.as_deref(),
            Some(Path::new("/home/u/vms/base.qcow2"))
        );
        assert_eq!(drives[1].file.as_deref(), Some(Path::new("/abs/b.qcow2")));
    }

    #[test]
    fn tilde_expands_to_home() {
        let Some(home) = std::env::var_os("HOME") else {
            return;
        };
        let mut drives = vec![drive_with_file("~/vms/x.qcow2")];
        resolve_paths(&mut drives, Path::new("/cfg")).unwrap();
        assert_eq!(
            drives[0].file,
            Some(normalize(&PathBuf::from(home).join("vms/x.qcow2")))
        );
        let mut other_user = vec![drive_with_file("~bob/x.qcow2")];
        let err = resolve_paths(&mut other_user, Path::new("/cfg")).unwrap_err();
        assert_eq!(err.config_path(), Some("storage[0].file"));
    }

    #[test]
    fn default_path_lives_in_the_vm_data_dir() {
        let dir = Path::new("/data/vms/abc");
        let mut raw = DriveSpec::new("scratch");
        raw.kind = DriveKind::Raw;
        assert_eq!(
            default_drive_path(dir, &DriveSpec::new("hdd")),
            Some(dir.join("hdd.qcow2"))
        );
        assert_eq!(default_drive_path(dir, &raw), Some(dir.join("scratch.raw")));
        let mut share = DriveSpec::new("share");
        share.kind = DriveKind::Virtfs;
        assert_eq!(default_drive_path(dir, &share), None);
    }

    #[test]
    fn system_dirs_are_refused_for_writing() {
        for bad in [
            "/etc/x.qcow2",
            "/tmp/../etc/x.qcow2",
            "/usr/lib/x",
            "/dev/sda",
            "/boot/x",
            "/",
        ] {
            let err = check_writable_location(Path::new(bad)).unwrap_err();
            assert!(matches!(err, StorageError::UnsafeLocation { .. }), "{bad}");
        }
        for good in [
            "/dev/shm/x.qcow2",
            "/home/u/vms/x.qcow2",
            "/var/lib/maqet/x.qcow2",
            "/tmp/x",
        ] {
            check_writable_location(Path::new(good)).unwrap();
        }
    }

    #[test]
    fn symlinks_into_system_dirs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("sneaky");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let err = check_writable_location(&link.join("x.qcow2")).unwrap_err();
        assert!(matches!(err, StorageError::UnsafeLocation { .. }));
    }
}
