//! Converting QEMU's PPM screendumps to PNG.

use std::path::Path;

use crate::{ErrorKind, MaqetError};

/// Reads a binary PPM (P6, 8-bit) and writes it as PNG.
pub fn ppm_to_png(ppm: &Path, png_path: &Path) -> Result<(), MaqetError> {
    let data = std::fs::read(ppm)
        .map_err(|e| MaqetError::io(format!("cannot read {}", ppm.display()), e))?;
    let (width, height, pixels) = parse_ppm(&data).ok_or_else(|| {
        MaqetError::new(
            ErrorKind::Failure,
            format!(
                "{} is not a P6 PPM image as QEMU writes them",
                ppm.display()
            ),
        )
    })?;
    let file = std::fs::File::create(png_path)
        .map_err(|e| MaqetError::io(format!("cannot create {}", png_path.display()), e))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let write = encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(pixels));
    write.map_err(|e| {
        MaqetError::with_source(
            ErrorKind::Failure,
            format!("cannot write {}", png_path.display()),
            e,
        )
    })
}

fn parse_ppm(data: &[u8]) -> Option<(u32, u32, &[u8])> {
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
    let pixels = data.get(pos..pos + len)?;
    Some((width, height, pixels))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_a_tiny_ppm() {
        let mut data = b"P6\n# c\n2 1\n255\n".to_vec();
        data.extend([1, 2, 3, 4, 5, 6]);
        let (w, h, px) = super::parse_ppm(&data).unwrap();
        assert_eq!((w, h, px), (2, 1, &[1u8, 2, 3, 4, 5, 6][..]));
        assert!(super::parse_ppm(b"P3\n1 1\n255\n").is_none());
    }
}
