//! Writing a file so that nobody can aim the write elsewhere, and readers never see half of it.
//!
//! The content goes to a new temporary file next to the target, created with `O_EXCL` (and
//! `O_NOFOLLOW`) under a random name, so a symlink or file planted in advance is never
//! followed or reused; [`AtomicFile::commit`] renames it over the target, which replaces a
//! symlink at the target instead of writing through it. An uncommitted file is removed.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::MaqetError;

/// A temporary file that becomes `target` on [`AtomicFile::commit`].
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    file: File,
}

impl AtomicFile {
    /// Creates the temporary file in `target`'s directory (mode 0666 less the umask, like any
    /// new file).
    pub fn create(target: &Path) -> Result<AtomicFile, MaqetError> {
        let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(MaqetError::invalid(format!(
                "{} is not a file path",
                target.display()
            )));
        };
        let temp = dir.join(format!(
            ".{}.{}.maqet-tmp",
            name.to_string_lossy(),
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o666)
            .open(&temp)
            .map_err(|e| MaqetError::io(format!("cannot create a file in {}", dir.display()), e))?;
        Ok(AtomicFile {
            target: target.to_owned(),
            temp,
            file,
        })
    }

    /// The open temporary file, to write the content into.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Where the content goes until [`AtomicFile::commit`], for a writer that opens the file
    /// by name (QEMU writing a saved state).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Flushes the content to disk and renames it over the target.
    pub fn commit(mut self) -> Result<PathBuf, MaqetError> {
        let what = || format!("cannot write {}", self.target.display());
        self.file
            .sync_all()
            .map_err(|e| MaqetError::io(what(), e))?;
        std::fs::rename(&self.temp, &self.target).map_err(|e| MaqetError::io(what(), e))?;
        self.temp = PathBuf::new();
        Ok(self.target.clone())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn replaces_a_planted_symlink_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let target = dir.path().join("out.png");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        let mut out = AtomicFile::create(&target).unwrap();
        out.file().write_all(b"new").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!target.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn an_uncommitted_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        drop(AtomicFile::create(&dir.path().join("x")).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
