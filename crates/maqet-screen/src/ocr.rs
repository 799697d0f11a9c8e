//! Text on the screen, read by the Tesseract engine (the `tesseract` program of
//! Debian's `tesseract-ocr`).
//!
//! Console fonts are 8×16 pixels: too small for Tesseract, which wants letters some 20–30
//! pixels tall, and usually light on dark. [`prepare`] turns a frame into what Tesseract reads
//! best: grey levels, inverted when the background is dark, cut to the box that holds the text,
//! scaled up 3× with smoothing, then cut to black and white a quarter of the way from the darkest
//! grey to the lightest, with a white margin.
//!
//! Measured on screendumps of the test guest's 8×16 console font (`tests/fixtures/`): no
//! scale (2×–5×) or cut level (0.15–0.5) reads every q/g, w/u and m/n right, and each setting
//! that fixes some lines breaks others (2× at two fifths reads `maqet` but `Passuord`); turning
//! Tesseract's dictionaries off (`load_system_dawg`, `load_freq_dawg`) changes nothing. So the
//! settings stay, and scripts match on words those glyphs do not spoil (or on a regex such as
//! `ma[qg]et`).
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

/// The frame as Tesseract reads best: dark text on white, cut to the part that has text,
/// enlarged, black and white; `None` when the frame is blank (nothing to read).
pub fn prepare(frame: &Frame) -> Option<GrayImage> {
    let mut gray = frame.gray();
    let pixels = u64::from(gray.width()) * u64::from(gray.height());
    let sum: u64 = gray.pixels().map(|p| u64::from(p.0[0])).sum();
    if pixels > 0 && sum / pixels < 128 {
        image::imageops::invert(&mut gray);
    }
    // Only the box around dark pixels goes to Tesseract: a console is mostly empty, and its
    // cost grows with the area.
    let (x0, y0, x1, y1) = ink_box(&gray)?;
    let pad = 4;
    let (x0, y0) = (x0.saturating_sub(pad), y0.saturating_sub(pad));
    let (x1, y1) = (
        (x1 + pad).min(gray.width() - 1),
        (y1 + pad).min(gray.height() - 1),
    );
    let gray = image::imageops::crop_imm(&gray, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let big = image::imageops::resize(
        &gray,
        gray.width() * SCALE,
        gray.height() * SCALE,
        image::imageops::FilterType::Triangle,
    );
    // A quarter of the way from the darkest to the lightest grey: thin strokes keep 8x16 glyphs
    // apart (Otsu's level or the midpoint thicken them until q reads as g and w as u).
    let (dark, light) = big
        .pixels()
        .fold((255u8, 0u8), |(lo, hi), p| (lo.min(p.0[0]), hi.max(p.0[0])));
    let level = dark + (light - dark) / 4;
    let cut =
        imageproc::contrast::threshold(&big, level, imageproc::contrast::ThresholdType::Binary);
    let mut out = GrayImage::from_pixel(
        cut.width() + 2 * MARGIN,
        cut.height() + 2 * MARGIN,
        Luma([255]),
    );
    image::imageops::replace(&mut out, &cut, i64::from(MARGIN), i64::from(MARGIN));
    Some(out)
}

/// The smallest box (left, top, right, bottom, inclusive) holding every pixel darker than mid
/// grey; `None` when there is none.
fn ink_box(gray: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in gray.enumerate_pixels() {
        if p.0[0] < 128 {
            found = Some(match found {
                None => (x, y, x, y),
                Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x), d.max(y)),
            });
        }
    }
    found
}

/// Reads the text on `frame` with Tesseract (the program named by `MAQET_TESSERACT`, else
/// `tesseract` on `PATH`). Lines are trimmed; empty lines are dropped.
pub fn read_text(frame: &Frame) -> Result<String, ScreenError> {
    let program = std::env::var("MAQET_TESSERACT").unwrap_or_else(|_| DEFAULT_PROGRAM.to_string());
    read_text_with(&program, frame)
}

/// [`read_text`] with an explicit program.
pub fn read_text_with(program: &str, frame: &Frame) -> Result<String, ScreenError> {
    let Some(prepared) = prepare(frame) else {
        return Ok(String::new());
    };
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
        .map(|line| ascii_punctuation(line.trim()))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Tesseract's typographic guesses back to the ASCII a console shows: dashes to `-`, curly
/// quotes to straight ones (`SCREEN-42` must not read as `SCREEN—42`).
fn ascii_punctuation(line: &str) -> String {
    line.chars()
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn light_on_dark_becomes_dark_on_white_cut_to_the_text_and_three_times_larger() {
        let mut img = RgbImage::from_pixel(20, 12, Rgb([0, 0, 0]));
        img.put_pixel(6, 5, Rgb([200, 200, 200]));
        img.put_pixel(9, 6, Rgb([200, 200, 200]));
        // The ink box is x 6..=9, y 5..=6; padded by 4 it is x 2..=13, y 1..=10.
        let prepared = prepare(&Frame::from_rgb(img)).unwrap();
        assert_eq!(prepared.width(), 12 * SCALE + 2 * MARGIN);
        assert_eq!(prepared.height(), 10 * SCALE + 2 * MARGIN);
        assert_eq!(prepared.get_pixel(0, 0).0[0], 255, "background turns white");
        let x = MARGIN + 4 * SCALE + 1;
        let y = MARGIN + 4 * SCALE + 1;
        assert_eq!(
            prepared.get_pixel(x, y).0[0],
            0,
            "the lit pixel turns black"
        );
        let blank = Frame::from_rgb(RgbImage::new(8, 8));
        assert!(prepare(&blank).is_none());
        assert_eq!(
            read_text_with("/nonexistent/tesseract", &blank).unwrap(),
            ""
        );
    }

    /// Needs Tesseract (`apt-get install tesseract-ocr tesseract-ocr-eng`); fails without it.
    #[test]
    fn console_lines_with_q_and_g_read_right() {
        // A screendump of the test guest's VGA console (8x16 font, light on dark), cut to ten
        // lines full of the glyphs Tesseract mixes up; these five read right.
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/console-glyphs.png"
        );
        let frame = Frame::open(std::path::Path::new(fixture)).unwrap();
        let text = read_text(&frame).unwrap();
        let words = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
        let read: Vec<String> = text.lines().map(words).collect();
        for line in [
            "maqet-guest login: root",
            "Debian GNU/Linux 12 bookworm: squashfs, aqua, sequence, logging",
            "The quick gauge of a big queue: 9 jigs, 6 quiz pages, 8 eggs",
            "MENU PICKED: quit Say hello Count to three",
            "Giga quota: 4096 MiB, group wheel, grub config, qcow2 image",
        ] {
            assert!(
                read.iter().any(|r| r == line),
                "{line:?} not read in:\n{text}"
            );
        }
    }

    #[test]
    fn typographic_dashes_and_quotes_become_ascii() {
        assert_eq!(
            ascii_punctuation("SCREEN—42–DONE ‘a’ “b”"),
            "SCREEN-42-DONE 'a' \"b\""
        );
    }

    #[test]
    fn a_missing_program_says_what_to_install() {
        let mut img = RgbImage::new(4, 4);
        img.put_pixel(1, 1, Rgb([255, 255, 255]));
        let err = read_text_with("/nonexistent/tesseract", &Frame::from_rgb(img)).unwrap_err();
        assert!(err.to_string().contains("tesseract-ocr"), "{err}");
    }
}
