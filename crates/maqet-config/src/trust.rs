//! Whether a file is safe to take code or settings from: the ownership and mode checks ssh
//! applies to `authorized_keys`.
//!
//! maqet loads plugin libraries, reads `maqet.conf` and runs the QEMU binary a VM config names.
//! Another local user who can write any of those files, or a directory on the way to them,
//! could make maqet run their code. So a file is trusted only when it and every directory above
//! it are owned by the running user or root and are not writable by group or others. One
//! exception, as for `/tmp`: a world-writable directory with the sticky bit that root owns,
//! because there nobody can rename or remove an entry they do not own.
//!
//! Symlinks are resolved first and the real file and its real directories are checked.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Mode bits: writable by group or others.
const GROUP_OTHER_WRITE: u32 = 0o022;
/// The sticky bit.
const STICKY: u32 = 0o1000;

/// Why a file is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    /// The file or directory that failed the check (after resolving symlinks).
    pub path: PathBuf,
    /// What is wrong with it, in words for the user.
    pub reason: String,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path.display(), self.reason)
    }
}

/// Checks `path` and every directory above it (see the module page).
pub fn check_trusted(path: &Path) -> Result<(), Untrusted> {
    let real = std::fs::canonicalize(path).map_err(|e| Untrusted {
        path: path.to_owned(),
        reason: format!("cannot be resolved ({e})"),
    })?;
    let me = rustix::process::geteuid().as_raw();
    check_one(&real, me, false)?;
    for dir in real.ancestors().skip(1) {
        check_one(dir, me, true)?;
    }
    Ok(())
}

fn check_one(path: &Path, me: u32, is_dir: bool) -> Result<(), Untrusted> {
    let untrusted = |reason: String| Untrusted {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| untrusted(format!("cannot be read ({e})")))?;
    let owner = meta.uid();
    if owner != me && owner != 0 {
        return Err(untrusted(format!(
            "is owned by uid {owner}, not by you (uid {me}) or root"
        )));
    }
    let mode = meta.mode();
    if mode & GROUP_OTHER_WRITE != 0 {
        let root_sticky_dir = is_dir && owner == 0 && mode & STICKY != 0;
        if !root_sticky_dir {
            return Err(untrusted(format!(
                "is writable by {} (mode {:o}); run `chmod go-w {}`",
                if mode & 0o002 != 0 {
                    "others"
                } else {
                    "its group"
                },
                mode & 0o7777,
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_private_file_is_trusted_and_a_group_writable_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let file = dir.path().join("maqet.conf");
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(check_trusted(&file), Ok(()));

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
        let err = check_trusted(&file).unwrap_err();
        assert!(err.reason.contains("its group"), "{err}");

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_trusted(&file).unwrap_err();
        assert_eq!(err.path, std::fs::canonicalize(dir.path()).unwrap());
        assert!(err.reason.contains("others"), "{err}");
    }
}
