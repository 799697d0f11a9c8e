//! The cache's small index (`index.json`): which source gave which digest, and which VM disks
//! use an image as their backing file. Read and written under a lock, replaced atomically.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};

use super::ImageError;

/// Where an image came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The URL or absolute path it was fetched from.
    pub source: String,
    /// Its SHA-256 digest.
    pub digest: String,
    /// When it was fetched (seconds since the Unix epoch).
    pub fetched_at: u64,
}

/// A disk image that uses a cached image as its backing file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The cached image's digest.
    pub digest: String,
    /// The overlay's path.
    pub path: PathBuf,
}

/// The whole index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Sources, newest last; one record per source.
    #[serde(default)]
    pub sources: Vec<SourceRecord>,
    /// Overlays made on cached images.
    #[serde(default)]
    pub users: Vec<UserRecord>,
}

impl Index {
    /// The digest last fetched from `source`.
    pub fn digest_of(&self, source: &str) -> Option<&str> {
        self.sources
            .iter()
            .rev()
            .find(|r| r.source == source)
            .map(|r| r.digest.as_str())
    }

    /// Records (or replaces) the digest of `source`.
    pub fn set_source(&mut self, source: &str, digest: &str, now: u64) {
        self.sources.retain(|r| r.source != source);
        self.sources.push(SourceRecord {
            source: source.to_owned(),
            digest: digest.to_owned(),
            fetched_at: now,
        });
    }

    /// The overlays recorded for `digest` that still exist.
    pub fn live_users(&self, digest: &str) -> Vec<PathBuf> {
        self.users
            .iter()
            .filter(|u| u.digest == digest && u.path.exists())
            .map(|u| u.path.clone())
            .collect()
    }

    /// Forgets everything about `digest`.
    pub fn forget(&mut self, digest: &str) {
        self.sources.retain(|r| r.digest != digest);
        self.users.retain(|u| u.digest != digest);
    }
}

/// Reads the index (empty when there is none yet).
pub fn read(path: &Path) -> Result<Index, ImageError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ImageError::Index {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
        Err(e) => Err(ImageError::io("read", path, e)),
    }
}

/// Runs `change` on the index under an exclusive lock and writes the result back atomically.
pub fn update<T>(
    path: &Path,
    change: impl FnOnce(&mut Index) -> Result<T, ImageError>,
) -> Result<T, ImageError> {
    let lock_path = path.with_extension("lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| ImageError::io("open", &lock_path, e))?;
    flock(&lock, FlockOperation::LockExclusive)
        .map_err(|e| ImageError::io("lock", &lock_path, e.into()))?;
    let mut index = read(path)?;
    let result = change(&mut index)?;
    let temp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(&index).map_err(|source| ImageError::Index {
        path: path.to_path_buf(),
        source,
    })?;
    let mut file = File::create(&temp).map_err(|e| ImageError::io("create", &temp, e))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            ImageError::io("write", &temp, e)
        })?;
    std::fs::rename(&temp, path).map_err(|e| ImageError::io("replace", path, e))?;
    Ok(result)
}
