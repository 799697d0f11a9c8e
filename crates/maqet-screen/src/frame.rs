//! One picture of the screen: parsed from QEMU's PPM, cropped, saved as PNG.

use std::path::Path;

use image::{GrayImage, RgbImage};

use crate::{Region, ScreenError};

/// One screen picture (8-bit RGB).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    image: RgbImage,
}

impl Frame {
    /// Parses a binary 8-bit PPM (P6), the format of QEMU's `screendump`.
    pub fn from_ppm(data: &[u8]) -> Result<Frame, ScreenError> {
        let (width, height, pixels) = parse_ppm(data).ok_or(ScreenError::NotPpm)?;
        let image =
            RgbImage::from_raw(width, height, pixels.to_vec()).ok_or(ScreenError::NotPpm)?;
        Ok(Frame { image })
    }

    /// Wraps an RGB image.
    pub fn from_rgb(image: RgbImage) -> Frame {
        Frame { image }
    }

    /// Reads an image file (PNG or PPM) as a frame.
    pub fn open(path: &Path) -> Result<Frame, ScreenError> {
        let image = image::open(path).map_err(|source| ScreenError::Image {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Frame {
            image: image.to_rgb8(),
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.image.width()
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.image.height()
    }

    /// The RGB pixels.
    pub fn rgb(&self) -> &RgbImage {
        &self.image
    }

    /// The frame in grey levels.
    pub fn gray(&self) -> GrayImage {
        image::DynamicImage::ImageRgb8(self.image.clone()).to_luma8()
    }

    /// The part of the frame inside `region` (the whole frame for `None`); fails when the region
    /// does not fit the screen.
    pub fn crop(&self, region: Option<Region>) -> Result<Frame, ScreenError> {
        let Some(r) = region else {
            return Ok(self.clone());
        };
        r.check_inside(self.width(), self.height())?;
        let image = image::imageops::crop_imm(&self.image, r.x, r.y, r.w, r.h).to_image();
        Ok(Frame { image })
    }

    /// Encodes the frame as PNG bytes.
    pub fn png_bytes(&self) -> Result<Vec<u8>, image::ImageError> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.image.write_to(&mut out, image::ImageFormat::Png)?;
        Ok(out.into_inner())
    }

    /// Writes the frame to `path` as PNG (the caller picks a path no one else can aim).
    pub fn save_png(&self, path: &Path) -> Result<(), ScreenError> {
        let bytes = self.png_bytes().map_err(|source| ScreenError::Image {
            path: path.to_path_buf(),
            source,
        })?;
        std::fs::write(path, bytes).map_err(|source| ScreenError::File {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The share of pixels (0.0 to 1.0) that are the same in both frames; frames of different
/// sizes (a mode change) share nothing.
pub fn similarity(a: &Frame, b: &Frame) -> f64 {
    if a.image.dimensions() != b.image.dimensions() {
        return 0.0;
    }
    let total = u64::from(a.width()) * u64::from(a.height());
    if total == 0 {
        return 1.0;
    }
    let same = a
        .image
        .pixels()
        .zip(b.image.pixels())
        .filter(|(p, q)| p == q)
        .count() as u64;
    same as f64 / total as f64
}

/// Width, height and pixel bytes of a P6 PPM with maxval 255 (QEMU's `screendump` format);
/// `None` for anything else, a short file included.
pub fn parse_ppm(data: &[u8]) -> Option<(u32, u32, &[u8])> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while pos < data.len() && data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if data.get(pos) == Some(&b'#') {
            while pos < data.len() && data[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        let start = pos;
        while pos < data.len() && !data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if start == pos {
            return None;
        }
        fields.push(std::str::from_utf8(&data[start..pos]).ok()?);
    }
    pos += 1;
    if fields[0] != "P6" || fields[3] != "255" {
        return None;
    }
    let width: u32 = fields[1].parse().ok()?;
    let height: u32 = fields[2].parse().ok()?;
    let len = (width as usize)
        .checked_mul(height as usize)?
        .checked_mul(3)?;
    let pixels = data.get(pos..pos.checked_add(len)?)?;
    Some((width, height, pixels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ppm(w: u32, h: u32, fill: u8) -> Vec<u8> {
        let mut data = format!("P6\n# qemu\n{w} {h}\n255\n").into_bytes();
        data.extend(std::iter::repeat_n(fill, (w * h * 3) as usize));
        data
    }

    #[test]
    fn parses_a_ppm_with_a_comment_and_refuses_other_formats() {
        let mut data = b"P6\n# c\n2 1\n255\n".to_vec();
        data.extend([1, 2, 3, 4, 5, 6]);
        let (w, h, px) = parse_ppm(&data).unwrap();
        assert_eq!((w, h, px), (2, 1, &[1u8, 2, 3, 4, 5, 6][..]));
        assert!(parse_ppm(b"P3\n1 1\n255\n").is_none());
        assert!(
            parse_ppm(b"P6\n2 1\n255\n\x01").is_none(),
            "a short file is refused"
        );
    }

    #[test]
    fn parses_crops_and_compares() {
        let a = Frame::from_ppm(&ppm(4, 2, 0)).unwrap();
        assert_eq!((a.width(), a.height()), (4, 2));
        let part = a
            .crop(Some(Region {
                x: 1,
                y: 0,
                w: 3,
                h: 2,
            }))
            .unwrap();
        assert_eq!((part.width(), part.height()), (3, 2));
        assert!(
            a.crop(Some(Region {
                x: 2,
                y: 0,
                w: 3,
                h: 2
            }))
            .is_err()
        );
        let mut b = a.clone();
        b.image.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        assert_eq!(similarity(&a, &a), 1.0);
        assert_eq!(similarity(&a, &b), 7.0 / 8.0);
        assert!(Frame::from_ppm(b"P6\n4 2\n255\n\0\0").is_err());
        assert!(Frame::from_ppm(b"P3\n1 1\n255\n1 2 3").is_err());
    }
}
