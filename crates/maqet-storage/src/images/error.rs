//! Errors of the image cache: one variant per way a download or a cache operation fails.

use std::path::PathBuf;

use crate::ErrorKind;

/// Everything that can go wrong while fetching, listing or removing cached images.
///
/// Every failed fetch leaves nothing in the cache; only an interrupted download
/// ([`ImageError::Truncated`], [`ImageError::Stalled`], [`ImageError::Network`]) keeps its
/// partial file (when it holds bytes) in the cache's `tmp/` directory so that the next fetch
/// of the same URL resumes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The downloaded or copied bytes do not have the expected SHA-256 digest.
    #[error(
        "{source_name} has SHA-256 {actual}, not the expected {expected}; the file was discarded. \
         Check the digest (or the checksums file) and the source, then pull again"
    )]
    DigestMismatch {
        /// URL or path of the image.
        source_name: String,
        /// The digest that was asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The server has no file at that URL (HTTP 404 or 410).
    #[error("{url} was not found on the server (HTTP {status}); check the URL")]
    NotFoundAtUrl {
        /// The URL.
        url: String,
        /// 404 or 410.
        status: u16,
    },
    /// The server answered with another unexpected HTTP status.
    #[error(
        "{url} could not be downloaded: the server answered HTTP {status}; try again later or check the URL"
    )]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The connection ended before the whole file arrived.
    #[error(
        "the download of {url} stopped after {received} of {expected} bytes; run the same pull \
         again to resume it"
    )]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes in the partial file now.
        received: u64,
        /// Bytes the server announced.
        expected: u64,
    },
    /// The server sent nothing for the stall limit (see [`super::timeouts`]).
    #[error(
        "the download of {url} stalled: nothing arrived for {} after {received} bytes. Run the \
         same pull again to resume it, or set MAQET_DOWNLOAD_STALL_TIMEOUT to a longer wait \
         for a slow server",
        humantime::format_duration(*waited)
    )]
    Stalled {
        /// The URL.
        url: String,
        /// Bytes in the partial file now.
        received: u64,
        /// How long nothing arrived.
        waited: std::time::Duration,
    },
    /// `$MAQET_DOWNLOAD_STALL_TIMEOUT` is not a duration above zero.
    #[error(
        "MAQET_DOWNLOAD_STALL_TIMEOUT is `{value}`, not a wait above zero; give seconds or a \
         duration such as `30s` or `2m`, or unset it"
    )]
    InvalidStallTimeout {
        /// The refused text.
        value: String,
    },
    /// The HTTP request failed (DNS, connection, TLS, protocol).
    #[error("could not download {url}; check the network and the URL, then pull again to resume")]
    Network {
        /// The URL.
        url: String,
        /// What the HTTP client reported.
        #[source]
        source: Box<ureq::Error>,
    },
    /// The cache's file system is full.
    #[error(
        "no space left on the device holding {}; the partial file was removed. Free space \
         (`maqet image prune` removes unused images) and pull again",
        path.display()
    )]
    NoSpace {
        /// The file being written.
        path: PathBuf,
    },
    /// The checksums file has no line for the image's file name.
    #[error(
        "{checksums} lists no SHA-256 digest for `{file_name}`; check that it belongs to the image"
    )]
    ChecksumNotListed {
        /// URL or path of the checksums file.
        checksums: String,
        /// The image's file name that was looked for.
        file_name: String,
    },
    /// The checksums file is larger than any real one.
    #[error("{checksums} is larger than {limit} bytes, which is not a SHA256SUMS file")]
    ChecksumsTooLarge {
        /// URL or path of the checksums file.
        checksums: String,
        /// The limit.
        limit: u64,
    },
    /// A digest given by the user is not 64 hexadecimal characters.
    #[error("`{value}` is not a SHA-256 digest; give 64 hexadecimal characters")]
    InvalidDigest {
        /// The refused text.
        value: String,
    },
    /// The source is a URL of a scheme maqet cannot download.
    #[error(
        "cannot download `{source_name}`: only http:// and https:// URLs and local paths are supported"
    )]
    UnsupportedScheme {
        /// The refused source.
        source_name: String,
    },
    /// A local source file does not exist.
    #[error("{} does not exist; check the `from:` path", path.display())]
    SourceNotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// `image rm` found no cached image for what it was given.
    #[error("no cached image matches `{what}`; `maqet image ls` lists them")]
    NotCached {
        /// The digest, digest prefix, URL or path that was given.
        what: String,
    },
    /// A digest prefix matches more than one cached image.
    #[error("`{prefix}` matches {count} cached images; give more of the digest")]
    AmbiguousDigest {
        /// The prefix.
        prefix: String,
        /// How many images it matches.
        count: usize,
    },
    /// `image rm` was asked to remove an image that VM disks still use as their backing file.
    #[error(
        "image {digest} is the backing file of {}; remove those VMs' disks first or use --force",
        users.iter().map(|u| u.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    InUse {
        /// The image's digest.
        digest: String,
        /// Overlays that use it.
        users: Vec<PathBuf>,
    },
    /// The cache index cannot be read.
    #[error("the image cache index {} is damaged; remove it (cached images stay, their sources are forgotten)", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// The decode error.
        #[source]
        source: serde_json::Error,
    },
    /// A file-system operation on the cache failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    /// Coarse class of this error, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidDigest { .. }
            | Self::UnsupportedScheme { .. }
            | Self::InvalidStallTimeout { .. }
            | Self::AmbiguousDigest { .. }
            | Self::InUse { .. } => ErrorKind::InvalidInput,
            Self::NotFoundAtUrl { .. } | Self::SourceNotFound { .. } | Self::NotCached { .. } => {
                ErrorKind::NotFound
            }
            Self::DigestMismatch { .. }
            | Self::ChecksumNotListed { .. }
            | Self::ChecksumsTooLarge { .. } => ErrorKind::Integrity,
            Self::HttpStatus { .. }
            | Self::Truncated { .. }
            | Self::Stalled { .. }
            | Self::Network { .. } => ErrorKind::Network,
            Self::NoSpace { .. } | Self::Index { .. } | Self::Io { .. } => ErrorKind::Io,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::StorageFull {
            return Self::NoSpace { path };
        }
        Self::Io {
            action,
            path,
            source,
        }
    }
}
