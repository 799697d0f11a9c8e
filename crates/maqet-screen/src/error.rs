//! What can go wrong reading a screen.

use std::path::PathBuf;

/// An error of this crate; each names the file or input at fault.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    /// Bytes that are not a binary 8-bit PPM (P6) as QEMU writes screendumps.
    #[error("the screendump is not a P6 PPM image as QEMU writes them")]
    NotPpm,
    /// A region that is malformed or does not fit the screen.
    #[error("region `{region}` {problem}")]
    BadRegion {
        /// The region as given.
        region: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {}", path.display())]
    File {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An image file that could not be decoded or encoded.
    #[error("{} is not an image maqet can use", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// The decoder's complaint.
        #[source]
        source: image::ImageError,
    },
    /// An openQA needle description that is not valid.
    #[error("{} is not an openQA needle description ({problem})", path.display())]
    Needle {
        /// The `.json` file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The `tesseract` program could not be run.
    #[error(
        "cannot run `{program}`; install Tesseract (Debian: apt-get install tesseract-ocr tesseract-ocr-eng)"
    )]
    TesseractMissing {
        /// The program name or path.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `tesseract` ran but failed.
    #[error("tesseract failed ({status}): {stderr}")]
    TesseractFailed {
        /// Its exit status.
        status: String,
        /// The end of what it printed on stderr.
        stderr: String,
    },
}
