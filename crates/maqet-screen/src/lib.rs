//! A VM's screen as an image, and the questions a script asks of it.
//!
//! - [`Frame`]: one screen picture (QEMU's PPM screendump parsed), cropped to a [`Region`],
//!   saved as PNG.
//! - [`ocr`]: the text on a frame, read by the real Tesseract engine (the `tesseract` program)
//!   after pre-processing for console fonts: grey, light-on-dark inverted, scaled up, thresholded.
//! - [`Needle`]: a reference image (a PNG, or an openQA needle: `.json` areas beside a `.png`)
//!   found in a frame by normalised cross-correlation ([`imageproc`]'s template matching).
//! - [`similarity`]: how much of two frames is the same, for "anything changed" and "nothing
//!   changed for N seconds" waits.
//!
//! This crate knows nothing of QEMU or maqet: it takes images and returns answers, so the
//! polling, timing and evidence-keeping stay with the caller.

mod error;
mod frame;
mod needle;
pub mod ocr;
mod region;

pub use error::ScreenError;
pub use frame::{Frame, parse_ppm, similarity};
pub use needle::{DEFAULT_MATCH_THRESHOLD, Needle, NeedleMatch};
pub use region::Region;
