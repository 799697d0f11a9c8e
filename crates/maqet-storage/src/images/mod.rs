//! A content-addressed cache of disk images fetched from URLs or copied from local files.
//!
//! Layout under the cache root (maqet uses `$XDG_CACHE_HOME/maqet/images`):
//! - `sha256/<digest>`: whole, verified images, read-only, named by their SHA-256;
//! - `tmp/<key>.part`: downloads and copies in progress (one per source, locked while written);
//!   an interrupted download stays there and the next fetch of the same URL resumes it;
//! - `index.json` (+ `index.lock`): which source gave which digest, and which VM disks were
//!   made on which image (see [`index`]).
//!
//! A file enters `sha256/` only by a rename after its digest was checked, so the cache never
//! holds a half-written or unverified image. VM disks are qcow2 overlays whose backing file is
//! the cached image (see [`crate::prepare_drive`]).

mod digest;
mod download;
mod drive_keys;
mod error;
pub mod index;
mod manage;
mod timeouts;

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, flock};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use digest::{digest_from_sums, parse_digest};
pub use drive_keys::check_drive_source;
pub use error::ImageError;
pub use timeouts::{
    CONNECT_TIMEOUT, DEFAULT_STALL_TIMEOUT, STALL_TIMEOUT_ENV, parse_stall_timeout,
};

/// Where an image comes from: a `http(s)://` URL or a local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// An HTTP or HTTPS URL.
    Url(String),
    /// A local file (absolute path).
    Path(PathBuf),
}

impl ImageSource {
    /// Reads a `from:` value: `http://` and `https://` are URLs, other `scheme://` are refused,
    /// anything else is a path.
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Ok(Self::Url(text.to_owned()))
        } else if text.contains("://") {
            Err(ImageError::UnsupportedScheme {
                source_name: text.to_owned(),
            })
        } else {
            Ok(Self::Path(PathBuf::from(text)))
        }
    }

    /// The source as text (the index key).
    pub fn as_text(&self) -> String {
        match self {
            Self::Url(url) => url.clone(),
            Self::Path(path) => path.display().to_string(),
        }
    }

    /// The last segment of the URL or path: the name a `SHA256SUMS` file lists.
    pub fn file_name(&self) -> String {
        let text = self.as_text();
        let without_query = text.split(['?', '#']).next().unwrap_or_default();
        without_query
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

/// How a fetched image is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// No digest given: whatever arrives is accepted (its digest is reported and recorded).
    Any,
    /// This SHA-256 digest (64 lower-case hex characters, see [`parse_digest`]).
    Sha256(String),
    /// The digest a `SHA256SUMS` file (URL or path) lists for the source's file name.
    Checksums(String),
}

/// Progress of a fetch, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchProgress {
    /// Bytes received (or copied) so far, of `total` when known.
    Transferring {
        /// Bytes so far.
        done: u64,
        /// Expected total.
        total: Option<u64>,
    },
    /// Bytes hashed so far, of `total`.
    Verifying {
        /// Bytes so far.
        done: u64,
        /// File size.
        total: u64,
    },
}

/// An image in the cache, as a fetch returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CachedImage {
    /// Its SHA-256 digest.
    pub digest: String,
    /// The cached file (`<root>/sha256/<digest>`).
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The URL or path it came from.
    pub source: String,
    /// False when the cache already had it.
    pub fetched: bool,
}

/// One entry of [`ImageCache::list`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedImage {
    /// SHA-256 digest.
    pub digest: String,
    /// The cached file.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Sources recorded for it.
    pub sources: Vec<String>,
    /// VM disks (overlays) made on it that still exist.
    pub used_by: Vec<PathBuf>,
}

/// A partial download in the cache's `tmp/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartialFile {
    /// The file.
    pub path: PathBuf,
    /// Bytes it holds.
    pub size: u64,
}

/// What [`ImageCache::list`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageListing {
    /// Whole images.
    pub images: Vec<ListedImage>,
    /// Interrupted downloads.
    pub partial: Vec<PartialFile>,
}

/// What [`ImageCache::remove`] or [`ImageCache::prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RemovedImages {
    /// Digests of the removed images.
    pub digests: Vec<String>,
    /// Partial downloads removed.
    pub partial: Vec<PathBuf>,
    /// Bytes freed.
    pub bytes: u64,
}

/// The image cache rooted at one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCache {
    root: PathBuf,
    /// Set by [`ImageCache::with_stall_timeout`]; else the environment or the default.
    stall_timeout: Option<Duration>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn make_dir(path: &Path) -> Result<(), ImageError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| ImageError::io("create directory", path, e))
}

/// Opens `path` (creating it) and holds an exclusive lock on it; retries when another process
/// renamed or removed the file while this one waited for the lock.
fn open_locked(path: &Path) -> Result<File, ImageError> {
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| ImageError::io("create", path, e))?;
        flock(&file, FlockOperation::LockExclusive)
            .map_err(|e| ImageError::io("lock", path, e.into()))?;
        let held = file
            .metadata()
            .map_err(|e| ImageError::io("read", path, e))?;
        match std::fs::metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(file),
            _ => continue,
        }
    }
}

impl ImageCache {
    /// A cache rooted at `root` (created on first fetch).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            stall_timeout: None,
        }
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the image with `digest` is (or would be) stored.
    pub fn image_path(&self, digest: &str) -> PathBuf {
        self.root.join("sha256").join(digest)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    fn part_path(&self, source: &ImageSource) -> PathBuf {
        let key = digest::hex_digest(Sha256::new_with_prefix(source.as_text().as_bytes()));
        self.tmp_dir().join(format!("{}.part", &key[..24]))
    }

    /// Returns the cached image for `source`, fetching it first when the cache lacks it.
    ///
    /// The digest is checked before the file enters the cache. A URL fetched before (same
    /// text) is a cache hit without network access unless `expected` names another digest.
    pub fn fetch(
        &self,
        source: &ImageSource,
        expected: &Expected,
        progress: &mut dyn FnMut(FetchProgress),
    ) -> Result<CachedImage, ImageError> {
        let text = source.as_text();
        if let ImageSource::Path(path) = source
            && !path.is_file()
        {
            return Err(ImageError::SourceNotFound { path: path.clone() });
        }
        let index = index::read(&self.index_path())?;
        let wanted = match expected {
            Expected::Sha256(digest) => Some(parse_digest(digest)?),
            Expected::Checksums(_) | Expected::Any => index
                .digest_of(&text)
                .filter(|d| self.image_path(d).is_file())
                .map(str::to_owned),
        };
        let wanted = match (wanted, expected, source) {
            (Some(digest), _, _) => Some(digest),
            (None, Expected::Checksums(sums), _) => Some(self.digest_from_checksums(sums, source)?),
            (None, _, ImageSource::Path(path)) => Some(digest::sha256_file(path, &mut |_| {})?),
            (None, _, ImageSource::Url(_)) => None,
        };
        if let Some(digest) = &wanted
            && let Some(hit) = self.hit(digest, &text)?
        {
            return Ok(hit);
        }
        make_dir(&self.root.join("sha256"))?;
        make_dir(&self.tmp_dir())?;
        let part_path = self.part_path(source);
        let mut part = open_locked(&part_path)?;
        // Another process may have finished the same fetch while this one waited.
        let index = index::read(&self.index_path())?;
        let known = wanted
            .clone()
            .or_else(|| index.digest_of(&text).map(str::to_owned));
        if let Some(digest) = &known
            && let Some(hit) = self.hit(digest, &text)?
        {
            return Ok(hit);
        }
        let fetched = match source {
            ImageSource::Url(url) => self.stall_timeout().and_then(|stall| {
                download::download(url, &mut part, &part_path, stall, &mut |done, total| {
                    progress(FetchProgress::Transferring { done, total });
                })
            }),
            ImageSource::Path(path) => copy_file(path, &mut part, &part_path, progress),
        };
        let size = match fetched {
            Ok(size) => size,
            Err(err) => {
                // A cut-off download stays for the next fetch to resume; nothing else does.
                let resumable = matches!(
                    err,
                    ImageError::Truncated { .. }
                        | ImageError::Stalled { .. }
                        | ImageError::Network { .. }
                ) && part.metadata().is_ok_and(|m| m.len() > 0);
                if !resumable {
                    let _ = std::fs::remove_file(&part_path);
                }
                return Err(err);
            }
        };
        let actual = digest::sha256_file(&part_path, &mut |done| {
            progress(FetchProgress::Verifying { done, total: size });
        })?;
        if let Some(expected) = &wanted
            && *expected != actual
        {
            let _ = std::fs::remove_file(&part_path);
            return Err(ImageError::DigestMismatch {
                source_name: text,
                expected: expected.clone(),
                actual,
            });
        }
        let target = self.image_path(&actual);
        let committed = std::fs::set_permissions(&part_path, Permissions::from_mode(0o444))
            .and_then(|()| std::fs::rename(&part_path, &target))
            .and_then(|()| File::open(self.root.join("sha256"))?.sync_all());
        if let Err(e) = committed {
            let _ = std::fs::remove_file(&part_path);
            return Err(ImageError::io("store", &target, e));
        }
        drop(part);
        index::update(&self.index_path(), |index| {
            index.set_source(&text, &actual, now_secs());
            Ok(())
        })?;
        Ok(CachedImage {
            digest: actual,
            path: target,
            size,
            source: text,
            fetched: true,
        })
    }

    /// The cached image with `digest`, recorded as coming from `source`, if the cache has it.
    fn hit(&self, digest: &str, source: &str) -> Result<Option<CachedImage>, ImageError> {
        let path = self.image_path(digest);
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(None);
        };
        index::update(&self.index_path(), |index| {
            if index.digest_of(source) != Some(digest) {
                index.set_source(source, digest, now_secs());
            }
            Ok(())
        })?;
        Ok(Some(CachedImage {
            digest: digest.to_owned(),
            path,
            size: meta.len(),
            source: source.to_owned(),
            fetched: false,
        }))
    }

    fn digest_from_checksums(
        &self,
        sums: &str,
        source: &ImageSource,
    ) -> Result<String, ImageError> {
        let text = match ImageSource::parse(sums)? {
            ImageSource::Url(url) => download::fetch_text(&url, self.stall_timeout()?)?,
            ImageSource::Path(path) => {
                let file = File::open(&path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        ImageError::SourceNotFound { path: path.clone() }
                    } else {
                        ImageError::io("read", &path, e)
                    }
                })?;
                let mut bytes = Vec::new();
                file.take(download::MAX_SUMS_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| ImageError::io("read", &path, e))?;
                if bytes.len() as u64 > download::MAX_SUMS_BYTES {
                    return Err(ImageError::ChecksumsTooLarge {
                        checksums: sums.to_owned(),
                        limit: download::MAX_SUMS_BYTES,
                    });
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
        let file_name = source.file_name();
        digest_from_sums(&text, &file_name).ok_or_else(|| ImageError::ChecksumNotListed {
            checksums: sums.to_owned(),
            file_name,
        })
    }

    /// Records that the disk image `overlay` uses the cached image `digest` as its backing file
    /// (so `remove` refuses and `prune` keeps it while the overlay exists).
    pub fn record_user(&self, digest: &str, overlay: &Path) -> Result<(), ImageError> {
        index::update(&self.index_path(), |index| {
            index.users.retain(|u| u.path != overlay);
            index.users.push(index::UserRecord {
                digest: digest.to_owned(),
                path: overlay.to_path_buf(),
            });
            Ok(())
        })
    }
}

/// Copies a local file into the (locked, possibly non-empty) partial file from the start.
fn copy_file(
    source: &Path,
    part: &mut File,
    part_path: &Path,
    progress: &mut dyn FnMut(FetchProgress),
) -> Result<u64, ImageError> {
    let mut input = File::open(source).map_err(|e| ImageError::io("open", source, e))?;
    let total = input.metadata().ok().map(|m| m.len());
    part.set_len(0)
        .map_err(|e| ImageError::io("truncate", part_path, e))?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = input
            .read(&mut buffer)
            .map_err(|e| ImageError::io("read", source, e))?;
        if n == 0 {
            break;
        }
        part.write_all(&buffer[..n])
            .map_err(|e| ImageError::io("write", part_path, e))?;
        done += n as u64;
        progress(FetchProgress::Transferring { done, total });
    }
    part.sync_all()
        .map_err(|e| ImageError::io("write", part_path, e))?;
    Ok(done)
}

#[cfg(test)]
mod tests;
