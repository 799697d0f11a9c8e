//! The `storage:` keys that make a disk from an image: `from`, `sha256`, `checksums`.

use crate::{DriveKind, DriveSpec, Media, StorageError};

/// Checks a drive's `from`, `sha256` and `checksums` (already read from `storage[i]`, named by
/// `at`) and lower-cases the digest: `from` makes a qcow2 disk an overlay on a fetched image,
/// a URL needs a digest or a checksums file, and neither check comes without `from`.
pub fn check_drive_source(drive: &mut DriveSpec, at: &str) -> Result<(), StorageError> {
    let Some(from) = drive.from.as_deref() else {
        let given = [("sha256", &drive.sha256), ("checksums", &drive.checksums)];
        if let Some((key, _)) = given.iter().find(|(_, value)| value.is_some()) {
            return Err(StorageError::invalid(
                format!("{at}.{key}"),
                format!("`{key}` checks the image named by `from:`; add `from:` or remove it"),
            ));
        }
        return Ok(());
    };
    let source = super::ImageSource::parse(from)
        .map_err(|e| StorageError::invalid(format!("{at}.from"), e.to_string()))?;
    if drive.kind != DriveKind::Qcow2 || drive.media != Media::Disk {
        return Err(StorageError::invalid(
            format!("{at}.from"),
            "`from:` makes a qcow2 overlay on the image; it needs `type: qcow2` and a disk (not a cdrom)",
        ));
    }
    if drive.backing_file.is_some() {
        return Err(StorageError::invalid(
            format!("{at}.from"),
            "`from:` and `backing_file:` both name the backing image; keep one",
        ));
    }
    if drive.sha256.is_some() && drive.checksums.is_some() {
        return Err(StorageError::invalid(
            format!("{at}.checksums"),
            "give either `sha256:` or `checksums:`, not both",
        ));
    }
    if let Some(digest) = drive.sha256.as_deref() {
        let digest = super::parse_digest(digest)
            .map_err(|e| StorageError::invalid(format!("{at}.sha256"), e.to_string()))?;
        drive.sha256 = Some(digest);
    }
    if let Some(sums) = drive.checksums.as_deref() {
        super::ImageSource::parse(sums)
            .map_err(|e| StorageError::invalid(format!("{at}.checksums"), e.to_string()))?;
    }
    if matches!(source, super::ImageSource::Url(_))
        && drive.sha256.is_none()
        && drive.checksums.is_none()
    {
        return Err(StorageError::invalid(
            format!("{at}.from"),
            "a downloaded image must be checked: add `sha256:` (its digest) or `checksums:` (a SHA256SUMS URL)",
        ));
    }
    Ok(())
}
