//! Creating images without ever overwriting or leaving partial files: create, overlay, convert.
//!
//! Every new image is written under a hidden temporary name in the target directory (mode
//! 0600, created with `O_EXCL`) and then moved into place with `renameat2(RENAME_NOREPLACE)`
//! (or link + unlink where the filesystem lacks it). Any failure removes the temporary file.

use std::ffi::OsString;
use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;

use super::run::Job;
use super::{ImageFormat, QemuImg};
use crate::paths::{absolute, check_writable_location};
use crate::{ByteSize, StorageError};

/// A freshly created image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedImage {
    /// Absolute path of the new image.
    pub path: PathBuf,
    /// Its format.
    pub format: ImageFormat,
}

impl QemuImg {
    /// Creates a new image (mode 0600, parent directories 0700); never overwrites a file.
    ///
    /// `backing` is `(backing image, its format)`; without `size` the backing image's size is used.
    pub fn create(
        &self,
        path: &Path,
        format: ImageFormat,
        size: Option<ByteSize>,
        backing: Option<(&Path, &str)>,
    ) -> Result<CreatedImage, StorageError> {
        if size.is_none() && backing.is_none() {
            return Err(StorageError::MissingSize {
                drive: path.display().to_string(),
                path: path.to_path_buf(),
            });
        }
        let mut args: Vec<OsString> = vec!["create".into(), "-f".into(), format.as_str().into()];
        if let Some((backing_path, backing_format)) = backing {
            let backing_path =
                absolute(backing_path).map_err(|e| StorageError::io("resolve", backing_path, e))?;
            if !backing_path.is_file() {
                return Err(StorageError::FileNotFound { path: backing_path });
            }
            args.extend([
                "-b".into(),
                backing_path.into_os_string(),
                "-F".into(),
                backing_format.into(),
            ]);
        }
        let target = NewFile::prepare(path)?;
        args.extend(["--".into(), target.temp.clone().into_os_string()]);
        if let Some(size) = size {
            args.push(size.bytes().to_string().into());
        }
        let job = Job {
            operation: "create",
            path: &target.path,
            limited: true,
        };
        self.run(args, &job, None)?;
        let path = target.commit()?;
        Ok(CreatedImage { path, format })
    }

    /// Creates a qcow2 overlay at `dst` backed by `base` (a linked clone); `base` is not modified.
    pub fn create_overlay(&self, base: &Path, dst: &Path) -> Result<CreatedImage, StorageError> {
        let base_format = self.info(base, true)?.format;
        self.create(dst, ImageFormat::Qcow2, None, Some((base, &base_format)))
    }

    /// Copies `src` into a new standalone image at `dst` (a full clone); never overwrites `dst`.
    ///
    /// With `progress`, it is called with the percentage done as qemu-img reports it.
    pub fn convert(
        &self,
        src: &Path,
        dst: &Path,
        format: ImageFormat,
        progress: Option<&mut dyn FnMut(f64)>,
    ) -> Result<CreatedImage, StorageError> {
        let src = absolute(src).map_err(|e| StorageError::io("resolve", src, e))?;
        if !src.is_file() {
            return Err(StorageError::FileNotFound { path: src });
        }
        let target = NewFile::prepare(dst)?;
        let mut args: Vec<OsString> = vec!["convert".into()];
        if progress.is_some() {
            args.push("-p".into());
        }
        args.extend([
            "-O".into(),
            format.as_str().into(),
            "--".into(),
            src.into_os_string(),
            target.temp.clone().into_os_string(),
        ]);
        let job = Job {
            operation: "convert into",
            path: &target.path,
            limited: false,
        };
        self.run(args, &job, progress)?;
        let path = target.commit()?;
        Ok(CreatedImage { path, format })
    }
}

/// A file being created under a temporary name; removed on drop unless committed.
struct NewFile {
    path: PathBuf,
    temp: PathBuf,
    committed: bool,
}

impl NewFile {
    /// Checks the location, creates parent directories and the empty 0600 temporary file.
    fn prepare(path: &Path) -> Result<Self, StorageError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = absolute(path).map_err(|e| StorageError::io("resolve", path, e))?;
        check_writable_location(&path)?;
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(StorageError::io(
                "create",
                &path,
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            ));
        };
        if path.symlink_metadata().is_ok() {
            return Err(StorageError::AlreadyExists { path });
        }
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| StorageError::io("create directory", parent, e))?;
        let temp = parent.join(format!(
            ".{}.{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| StorageError::io("create", &temp, e))?;
        Ok(Self {
            path,
            temp,
            committed: false,
        })
    }

    /// Moves the temporary file to its final name without replacing anything.
    fn commit(mut self) -> Result<PathBuf, StorageError> {
        std::fs::set_permissions(&self.temp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StorageError::io("set permissions of", &self.temp, e))?;
        match renameat_with(CWD, &self.temp, CWD, &self.path, RenameFlags::NOREPLACE) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                return Err(StorageError::AlreadyExists {
                    path: self.path.clone(),
                });
            }
            Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
                // The filesystem cannot rename without replacing: link (fails if taken), then unlink.
                std::fs::hard_link(&self.temp, &self.path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => StorageError::AlreadyExists {
                        path: self.path.clone(),
                    },
                    _ => StorageError::io("move into place", &self.path, e),
                })?;
                let _ = std::fs::remove_file(&self.temp);
            }
            Err(errno) => {
                return Err(StorageError::io(
                    "move into place",
                    &self.path,
                    errno.into(),
                ));
            }
        }
        self.committed = true;
        Ok(self.path.clone())
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
