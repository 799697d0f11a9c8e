//! Start-time preparation of a drive: check its file, or create the image it needs.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;

use crate::qemu_img::{CreatedImage, ImageFormat, QemuImg};
use crate::{DriveKind, DriveSpec, StorageError, check_writable_location};

/// Makes a drive ready for QEMU and returns the image it had to create, if any.
///
/// An existing image is used untouched. A missing writable image is created from `size`
/// and/or `backing_file` (whose format is probed when `backing_format` is absent); with
/// neither it is an error. Read-only drives and CD-ROMs must already exist. A missing
/// writable virtfs directory is created (mode 0700). Files maqet would write must not be
/// in a system directory. Expects absolute paths (see [`crate::resolve_paths`] and
/// [`crate::assign_default_files`]).
pub fn prepare_image(
    qemu_img: &QemuImg,
    drive: &DriveSpec,
) -> Result<Option<CreatedImage>, StorageError> {
    let layout = |reason: &str| StorageError::DriveLayout {
        drive: drive.name.clone(),
        reason: reason.to_owned(),
    };
    if drive.kind == DriveKind::Virtfs {
        let path = drive
            .path
            .as_deref()
            .ok_or_else(|| layout("`path` is not set"))?;
        if path.is_dir() {
            return Ok(None);
        }
        if path.exists() || drive.readonly {
            return Err(StorageError::FileNotFound {
                path: path.to_path_buf(),
            });
        }
        check_writable_location(path)?;
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| StorageError::io("create directory", path, e))?;
        return Ok(None);
    }
    let file = drive
        .file
        .as_deref()
        .ok_or_else(|| layout("`file` is not set; assign default paths first"))?;
    if drive.is_writable() {
        check_writable_location(file)?;
    }
    if file.exists() {
        if file.is_dir() {
            return Err(layout(&format!(
                "{} is a directory, not an image",
                file.display()
            )));
        }
        return Ok(None);
    }
    if !drive.is_writable() {
        return Err(StorageError::FileNotFound {
            path: file.to_path_buf(),
        });
    }
    let format = ImageFormat::of(drive.kind).ok_or_else(|| layout("virtfs has no image"))?;
    if drive.size.is_none() && drive.backing_file.is_none() {
        return Err(StorageError::MissingSize {
            drive: drive.name.clone(),
            path: file.to_path_buf(),
        });
    }
    let backing_format = match (&drive.backing_file, &drive.backing_format) {
        (Some(_), Some(format)) => Some(format.clone()),
        (Some(backing), None) => Some(qemu_img.info(backing, true)?.format),
        (None, _) => None,
    };
    let backing = drive.backing_file.as_deref().zip(backing_format.as_deref());
    qemu_img.create(file, format, drive.size, backing).map(Some)
}
