//! Start-time preparation of a drive: check its file, or create the image it needs (for a
//! `from:` drive, an overlay on an image fetched into the image cache).

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;

use crate::images::{Expected, FetchProgress, ImageCache, ImageSource};
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

/// Like [`prepare_image`], and first, for a drive with `from:` whose image does not exist yet:
/// fetches the source into `images` (checked against `sha256:`/`checksums:`) and makes the
/// drive a qcow2 overlay on the cached image (backing file by absolute path, its format given),
/// with the drive's `size` (at least the image's own). Records the overlay as a user of the
/// cached image. `progress` follows the download.
///
/// A fetched image must be plain qcow2 or raw: one with a backing file or an external data
/// file of its own would let whoever made it point the VM at files on this host.
pub fn prepare_drive(
    qemu_img: &QemuImg,
    drive: &DriveSpec,
    images: &ImageCache,
    progress: &mut dyn FnMut(FetchProgress),
) -> Result<Option<CreatedImage>, StorageError> {
    let (Some(from), Some(file)) = (drive.from.as_deref(), drive.file.as_deref()) else {
        return prepare_image(qemu_img, drive);
    };
    if file.exists() {
        return prepare_image(qemu_img, drive);
    }
    check_writable_location(file)?;
    let layout = |reason: String| StorageError::DriveLayout {
        drive: drive.name.clone(),
        reason,
    };
    let source = ImageSource::parse(from)?;
    let expected = match (&drive.sha256, &drive.checksums) {
        (Some(digest), _) => Expected::Sha256(digest.clone()),
        (None, Some(sums)) => Expected::Checksums(sums.clone()),
        (None, None) => Expected::Any,
    };
    let cached = images.fetch(&source, &expected, progress)?;
    let info = qemu_img.info(&cached.path, true)?;
    if info.format != "qcow2" && info.format != "raw" {
        return Err(layout(format!(
            "the image from {from} is a {} image; `from:` takes qcow2 or raw images",
            info.format
        )));
    }
    if info.backing_file.is_some() || has_external_data_file(&cached.path)? {
        return Err(layout(format!(
            "the image from {from} refers to other files (a backing or external data file); \
             maqet only builds on self-contained images"
        )));
    }
    if let Some(size) = drive.size
        && size.bytes() < info.virtual_size
    {
        return Err(layout(format!(
            "`size` {size} is smaller than the image's own {} bytes; raise it or remove it",
            info.virtual_size
        )));
    }
    let mut overlay = drive.clone();
    overlay.from = None;
    overlay.backing_file = Some(cached.path.clone());
    overlay.backing_format = Some(info.format);
    let made = prepare_image(qemu_img, &overlay)?;
    images.record_user(&cached.digest, file)?;
    Ok(made)
}

/// Whether a qcow2 v3 image sets the "external data file" incompatible feature bit.
fn has_external_data_file(path: &std::path::Path) -> Result<bool, StorageError> {
    use std::io::Read;
    let mut header = Vec::with_capacity(80);
    std::fs::File::open(path)
        .and_then(|f| f.take(80).read_to_end(&mut header))
        .map_err(|e| StorageError::io("read", path, e))?;
    if header.len() < 80 || header[..4] != crate::qcow2::MAGIC {
        return Ok(false);
    }
    let version = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let mut features = [0u8; 8];
    features.copy_from_slice(&header[72..80]);
    Ok(version >= 3 && u64::from_be_bytes(features) & 0b100 != 0)
}
