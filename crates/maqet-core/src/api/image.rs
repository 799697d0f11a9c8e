//! `image pull|ls|rm|prune`: the cache of disk images that `from:` drives are made from
//! (`$XDG_CACHE_HOME/maqet/images`, see `maqet_storage::images`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use maqet_macros::{api_method, api_requests};
use maqet_storage::images::{
    CachedImage, Expected, FetchProgress, ImageCache, ImageListing, ImageSource, RemovedImages,
};
use serde::Serialize;

use crate::registry::CommandOutput;
use crate::text::human_bytes;
use crate::{Maqet, MaqetError};

/// The image cache of the current user: `$XDG_CACHE_HOME/maqet/images`, else
/// `$HOME/.cache/maqet/images`.
pub fn image_cache() -> ImageCache {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let cache = absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    ImageCache::new(cache.join("maqet").join("images"))
}

/// `image pull`: the image now in the cache.
#[derive(Debug, Clone, Serialize)]
pub struct PulledImage {
    /// The cached image.
    #[serde(flatten)]
    pub image: CachedImage,
}

impl CommandOutput for PulledImage {
    fn human(&self) -> Option<String> {
        let how = if self.image.fetched {
            "pulled"
        } else {
            "already cached"
        };
        Some(format!(
            "{how}: {}\n  sha256 {}\n  {} at {}",
            self.image.source,
            self.image.digest,
            human_bytes(self.image.size),
            self.image.path.display()
        ))
    }
}

/// `image ls`: the cached images and partial downloads.
#[derive(Debug, Clone, Serialize)]
pub struct ImageList {
    /// Cache root.
    pub cache: PathBuf,
    /// What is in it.
    #[serde(flatten)]
    pub listing: ImageListing,
}

impl CommandOutput for ImageList {
    fn human(&self) -> Option<String> {
        if self.listing.images.is_empty() && self.listing.partial.is_empty() {
            return Some(format!("no cached images in {}", self.cache.display()));
        }
        let mut out = String::new();
        for image in &self.listing.images {
            let _ = writeln!(
                out,
                "{}  {:>10}  {}",
                &image.digest[..16],
                human_bytes(image.size),
                image.sources.join(", ")
            );
            for user in &image.used_by {
                let _ = writeln!(out, "  used by {}", user.display());
            }
        }
        for partial in &self.listing.partial {
            let _ = writeln!(
                out,
                "partial download {} ({}); pull again to resume",
                partial.path.display(),
                human_bytes(partial.size)
            );
        }
        Some(out.trim_end().to_owned())
    }
}

/// `image rm` / `image prune`: what was removed.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRemoval {
    /// What went.
    #[serde(flatten)]
    pub removed: RemovedImages,
}

impl CommandOutput for ImageRemoval {
    fn human(&self) -> Option<String> {
        let r = &self.removed;
        if r.digests.is_empty() && r.partial.is_empty() {
            return Some("nothing to remove".to_owned());
        }
        let mut out = String::new();
        for digest in &r.digests {
            let _ = writeln!(out, "removed image {digest}");
        }
        for path in &r.partial {
            let _ = writeln!(out, "removed partial download {}", path.display());
        }
        let _ = write!(out, "freed {}", human_bytes(r.bytes));
        Some(out)
    }
}

impl Maqet {
    /// A progress callback for fetching `what` that updates the progress line at most 5 times
    /// a second.
    pub(crate) fn fetch_progress<'a>(&'a self, what: &'a str) -> impl FnMut(FetchProgress) + 'a {
        let mut last: Option<Instant> = None;
        move |step| {
            let now = Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < Duration::from_millis(200)) {
                return;
            }
            last = Some(now);
            let message = match step {
                FetchProgress::Transferring {
                    done,
                    total: Some(total),
                } if total > 0 => format!(
                    "fetching {what}: {} of {} ({:.0}%)",
                    human_bytes(done),
                    human_bytes(total),
                    done as f64 * 100.0 / total as f64
                ),
                FetchProgress::Transferring { done, .. } => {
                    format!("fetching {what}: {}", human_bytes(done))
                }
                FetchProgress::Verifying { done, total } => format!(
                    "checking the SHA-256 of {what}: {:.0}%",
                    done as f64 * 100.0 / total.max(1) as f64
                ),
            };
            self.progress(&message);
        }
    }
}

#[api_requests]
impl Maqet {
    /// Download an image (or copy a local file) into the image cache, checking its SHA-256.
    ///
    /// The cache is `$XDG_CACHE_HOME/maqet/images`; images are stored by digest, so pulling
    /// again is free. An interrupted download is resumed by the next pull of the same URL.
    /// Without `--sha256` or `--checksums` the image is taken as it arrives and its digest is
    /// printed (put it in the VM config's `sha256:`).
    #[api_method(
        group = "image",
        group_about = "Download, list and remove cached disk images",
        name = "pull",
        category = "storage",
        examples = [
            "maqet image pull https://example.org/debian-12-genericcloud-amd64.qcow2 --checksums https://example.org/SHA256SUMS",
            "maqet image pull ./base.qcow2 --sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        ]
    )]
    pub fn image_pull(
        &self,
        #[arg(positional, help = "URL (http or https) or path of the image")] source: String,
        #[arg(help = "Expected SHA-256 digest of the image", value_name = "DIGEST")] sha256: Option<
            String,
        >,
        #[arg(
            help = "URL or path of a SHA256SUMS file that lists the image",
            value_name = "URL"
        )]
        checksums: Option<String>,
    ) -> Result<PulledImage, MaqetError> {
        let parsed = ImageSource::parse(&source).map_err(maqet_storage::StorageError::from)?;
        let parsed = match parsed {
            ImageSource::Path(path) => ImageSource::Path(crate::config::absolute(&path)),
            url => url,
        };
        let expected = match (sha256, checksums) {
            (Some(_), Some(_)) => {
                return Err(MaqetError::invalid(
                    "give either --sha256 or --checksums, not both",
                ));
            }
            (Some(digest), None) => Expected::Sha256(
                maqet_storage::images::parse_digest(&digest)
                    .map_err(maqet_storage::StorageError::from)?,
            ),
            (None, Some(sums)) => Expected::Checksums(sums),
            (None, None) => Expected::Any,
        };
        let what = parsed.file_name();
        let image = image_cache()
            .fetch(&parsed, &expected, &mut self.fetch_progress(&what))
            .map_err(maqet_storage::StorageError::from)?;
        Ok(PulledImage { image })
    }

    /// List the cached images (digest, size, sources, VM disks using them) and partial downloads.
    #[api_method(
        group = "image",
        name = "ls",
        category = "storage",
        examples = ["maqet image ls", "maqet image ls --format json"]
    )]
    pub fn image_ls(&self) -> Result<ImageList, MaqetError> {
        let cache = image_cache();
        let listing = cache.list().map_err(maqet_storage::StorageError::from)?;
        Ok(ImageList {
            cache: cache.root().to_path_buf(),
            listing,
        })
    }

    /// Remove a cached image, named by digest (or its first 8+ characters) or by its source.
    ///
    /// An image that a VM disk still uses as its backing file is kept unless `--force` (the
    /// VM would no longer start).
    #[api_method(
        group = "image",
        name = "rm",
        category = "storage",
        examples = ["maqet image rm 9f86d081", "maqet image rm https://example.org/base.qcow2"]
    )]
    pub fn image_rm(
        &self,
        #[arg(positional, help = "Digest, digest prefix, URL or path")] image: String,
        #[arg(help = "Remove it even when VM disks use it")] force: bool,
    ) -> Result<ImageRemoval, MaqetError> {
        let removed = image_cache()
            .remove(&image, force)
            .map_err(maqet_storage::StorageError::from)?;
        Ok(ImageRemoval { removed })
    }

    /// Remove partial downloads and every cached image that no existing VM disk uses.
    #[api_method(
        group = "image",
        name = "prune",
        category = "storage",
        examples = ["maqet image prune"]
    )]
    pub fn image_prune(&self) -> Result<ImageRemoval, MaqetError> {
        let removed = image_cache()
            .prune()
            .map_err(maqet_storage::StorageError::from)?;
        Ok(ImageRemoval { removed })
    }
}
