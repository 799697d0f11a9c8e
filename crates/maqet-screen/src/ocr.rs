//! Text on the screen, read by the Tesseract engine (the `tesseract` program of
//! Debian's `tesseract-ocr`).
//!
//! Console fonts are 8×16 pixels: too small for Tesseract, which wants letters some 20–30
//! pixels tall, and usually light on dark. [`prepare`] turns a frame into what Tesseract reads
//! best: grey levels, inverted when the background is dark, scaled up 3× with smoothing, then
//! cut to black and white at Otsu's level, with a white margin.
//!
//! The image goes to `tesseract stdin stdout` through a pipe: no file is written. Tesseract runs
//! with `OMP_THREAD_LIMIT=1` (its threads only add overhead on images this small).

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use image::{GrayImage, Luma};

use crate::{Frame, ScreenError};

/// How much [`prepare`] enlarges the image.
pub const SCALE: u32 = 3;
/// White margin around the prepared image, in prepared pixels.
const MARGIN: u32 = 12;
/// The program run when `MAQET_TESSERACT` does not name another.
pub const DEFAULT_PROGRAM: &str = "tesseract";

/// The frame as Tesseract reads best: dark text on white, enlarged, black and white.
pub fn prepare(frame: &Frame) -> GrayImage {
    let mut gray = frame.gray();
    let pixels = u64::from(gray.width()) * u64::from(gray.height());
    let sum: u64 = gray.pixels().map(|p| u64::from(p.0[0])).sum();
    if pixels > 0 && sum / pixels < 128 {
        image::imageops::invert(&mut gray);
    }
    let big = image::imageops::resize(
        &gray,
        gray.width() * SCALE,
        gray.height() * SCALE,
        image::imageops::FilterType::Triangle,
    );
    let level = imageproc::contrast::otsu_level(&big);
    let cut =
        imageproc::contrast::threshold(&big, level, imageproc::contrast::ThresholdType::Binary);
    let mut out = GrayImage::from_pixel(
        cut.width() + 2 * MARGIN,
        cut.height() + 2 * MARGIN,
        Luma([255]),
    );
    image::imageops::replace(&mut out, &cut, i64::from(MARGIN), i64::from(MARGIN));
    out
}

/// Reads the text on `frame` with Tesseract (the program named by `MAQET_TESSERACT`, else
/// `tesseract` on `PATH`). Lines are trimmed; empty lines are dropped.
pub fn read_text(frame: &Frame) -> Result<String, ScreenError> {
    let program = std::env::var("MAQET_TESSERACT").unwrap_or_else(|_| DEFAULT_PROGRAM.to_string());
    read_text_with(&program, frame)
}

/// [`read_text`] with an explicit program.
pub fn read_text_with(program: &str, frame: &Frame) -> Result<String, ScreenError> {
    let prepared = prepare(frame);
    let mut png = std::io::Cursor::new(Vec::new());
    prepared
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| ScreenError::TesseractFailed {
            status: "not started".into(),
            stderr: format!("cannot encode the prepared image: {e}"),
        })?;
    let png = png.into_inner();
    let missing = |source| ScreenError::TesseractMissing {
        program: program.to_string(),
        source,
    };
    let mut child = Command::new(program)
        .args(["stdin", "stdout", "-l", "eng", "--psm", "6", "--dpi", "300"])
        .env("OMP_THREAD_LIMIT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(missing)?;
    // Feed stdin from a thread so a full stdout pipe can never stall both sides.
    let mut stdin = child.stdin.take();
    let feeder = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            let _ = stdin.write_all(&png);
        }
    });
    let mut text = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut text);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let _ = feeder.join();
    let status = child.wait().map_err(missing)?;
    if !status.success() {
        let tail: String = stderr.trim().chars().rev().take(300).collect();
        return Err(ScreenError::TesseractFailed {
            status: status.to_string(),
            stderr: tail.chars().rev().collect(),
        });
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn light_on_dark_becomes_dark_on_white_and_three_times_larger() {
        let mut img = RgbImage::from_pixel(10, 4, Rgb([0, 0, 0]));
        img.put_pixel(2, 1, Rgb([200, 200, 200]));
        let prepared = prepare(&Frame::from_rgb(img));
        assert_eq!(prepared.width(), 30 + 2 * MARGIN);
        assert_eq!(prepared.get_pixel(0, 0).0[0], 255, "background turns white");
        let x = MARGIN + 2 * SCALE + 1;
        let y = MARGIN + SCALE + 1;
        assert_eq!(
            prepared.get_pixel(x, y).0[0],
            0,
            "the lit pixel turns black"
        );
    }

    #[test]
    fn a_missing_program_says_what_to_install() {
        let frame = Frame::from_rgb(RgbImage::new(4, 4));
        let err = read_text_with("/nonexistent/tesseract", &frame).unwrap_err();
        assert!(err.to_string().contains("tesseract-ocr"), "{err}");
    }
}
