//! Looking into and cleaning the image cache: `list`, `remove`, `prune`.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use super::{
    ImageCache, ImageError, ImageListing, ListedImage, PartialFile, RemovedImages, index,
    parse_digest,
};

impl ImageCache {
    /// Every cached image and partial download.
    pub fn list(&self) -> Result<ImageListing, ImageError> {
        let index = index::read(&self.index_path())?;
        let mut listing = ImageListing::default();
        for (path, size) in files_in(&self.root.join("sha256"))? {
            let digest = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if parse_digest(&digest).is_err() {
                continue;
            }
            listing.images.push(ListedImage {
                sources: index
                    .sources
                    .iter()
                    .filter(|r| r.digest == digest)
                    .map(|r| r.source.clone())
                    .collect(),
                used_by: index.live_users(&digest),
                digest,
                path,
                size,
            });
        }
        listing.partial = files_in(&self.tmp_dir())?
            .into_iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "part"))
            .map(|(path, size)| PartialFile { path, size })
            .collect();
        Ok(listing)
    }

    /// Removes the images `what` names: a digest, a digest prefix of at least 8 characters, or
    /// a source (URL or path) recorded in the index. Images that VM disks still use as their
    /// backing file are kept unless `force`.
    pub fn remove(&self, what: &str, force: bool) -> Result<RemovedImages, ImageError> {
        let listing = self.list()?;
        let lower = what.trim().to_ascii_lowercase();
        let lower = lower.strip_prefix("sha256:").unwrap_or(&lower).to_owned();
        let by_digest: Vec<&ListedImage> =
            if lower.len() >= 8 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
                listing
                    .images
                    .iter()
                    .filter(|i| i.digest.starts_with(&lower))
                    .collect()
            } else {
                Vec::new()
            };
        let chosen: Vec<&ListedImage> = if by_digest.is_empty() {
            listing
                .images
                .iter()
                .filter(|i| i.sources.iter().any(|s| s == what))
                .collect()
        } else {
            by_digest
        };
        match chosen.len() {
            0 => {
                return Err(ImageError::NotCached {
                    what: what.to_owned(),
                });
            }
            1 => {}
            count => {
                return Err(ImageError::AmbiguousDigest {
                    prefix: what.to_owned(),
                    count,
                });
            }
        }
        let mut removed = RemovedImages::default();
        for image in chosen {
            if !force && !image.used_by.is_empty() {
                return Err(ImageError::InUse {
                    digest: image.digest.clone(),
                    users: image.used_by.clone(),
                });
            }
            self.delete_image(&image.digest, image.size, &mut removed)?;
        }
        Ok(removed)
    }

    /// Removes partial downloads nobody is writing and images no existing VM disk uses.
    pub fn prune(&self) -> Result<RemovedImages, ImageError> {
        let listing = self.list()?;
        let mut removed = RemovedImages::default();
        for partial in &listing.partial {
            let Ok(file) = OpenOptions::new().write(true).open(&partial.path) else {
                continue;
            };
            // A download in progress holds the lock: leave it alone.
            if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
                continue;
            }
            if std::fs::remove_file(&partial.path).is_ok() {
                removed.bytes += partial.size;
                removed.partial.push(partial.path.clone());
            }
        }
        for image in listing.images.iter().filter(|i| i.used_by.is_empty()) {
            self.delete_image(&image.digest, image.size, &mut removed)?;
        }
        index::update(&self.index_path(), |index| {
            index.users.retain(|u| u.path.exists());
            Ok(())
        })?;
        Ok(removed)
    }

    fn delete_image(
        &self,
        digest: &str,
        size: u64,
        removed: &mut RemovedImages,
    ) -> Result<(), ImageError> {
        let path = self.image_path(digest);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io("remove", &path, e)),
        }
        index::update(&self.index_path(), |index| {
            index.forget(digest);
            Ok(())
        })?;
        removed.digests.push(digest.to_owned());
        removed.bytes += size;
        Ok(())
    }
}

/// Regular files directly in `dir` with their sizes, sorted by name (none when `dir` is missing).
fn files_in(dir: &Path) -> Result<Vec<(PathBuf, u64)>, ImageError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ImageError::io("list", dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ImageError::io("list", dir, e))?;
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            files.push((entry.path(), meta.len()));
        }
    }
    files.sort();
    Ok(files)
}
