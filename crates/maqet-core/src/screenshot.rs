//! Screendumps: QEMU writes its PPM into the VM's private runtime dir, maqet moves it (or its
//! PNG conversion) to the user's file through [`crate::atomic_file::AtomicFile`].
//!
//! QEMU is never given the user's path: it opens its file with `O_CREAT|O_TRUNC` and follows
//! symlinks, so a name guessable by another user (such as `FILE.tmp.ppm` next to the target)
//! could be aimed at any file the user may write.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::atomic_file::AtomicFile;
use crate::bounded_read::{BoundedReadError, read_regular};
use crate::{ErrorKind, MaqetError};

/// Largest PPM accepted from QEMU: 16384 × 16384 pixels, 3 bytes each, plus the header.
const MAX_PPM_BYTES: u64 = 16384 * 16384 * 3 + 64;

/// A random name for QEMU's PPM inside the VM's runtime dir (mode 0700, owned by the user).
pub fn private_ppm_path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join(format!("screendump-{}.ppm", uuid::Uuid::new_v4().simple()))
}

/// Writes QEMU's PPM at `ppm` to `target`, as PNG when `png`; `ppm` is removed in any case.
pub fn deliver(ppm: &Path, target: &Path, png: bool) -> Result<(), MaqetError> {
    let result = read_ppm(ppm).and_then(|data| {
        let mut out = AtomicFile::create(target)?;
        if png {
            write_png(&data, ppm, out.file(), target)?;
        } else {
            out.file()
                .write_all(&data)
                .map_err(|e| MaqetError::io(format!("cannot write {}", target.display()), e))?;
        }
        out.commit().map(|_| ())
    });
    let _ = std::fs::remove_file(ppm);
    result
}

fn read_ppm(ppm: &Path) -> Result<Vec<u8>, MaqetError> {
    read_regular(ppm, MAX_PPM_BYTES).map_err(|e| match e {
        BoundedReadError::Io(e) => MaqetError::io(
            format!("cannot read QEMU's screendump {}", ppm.display()),
            e,
        ),
        BoundedReadError::NotRegular(what) => MaqetError::new(
            ErrorKind::Failure,
            format!("QEMU's screendump {} is {what}", ppm.display()),
        ),
        BoundedReadError::TooLarge => MaqetError::new(
            ErrorKind::Failure,
            format!(
                "QEMU's screendump {} is larger than {MAX_PPM_BYTES} bytes",
                ppm.display()
            ),
        ),
    })
}

/// Encodes a binary PPM (P6, 8-bit) as PNG into `out`.
fn write_png(
    data: &[u8],
    ppm: &Path,
    out: &mut std::fs::File,
    png_path: &Path,
) -> Result<(), MaqetError> {
    let (width, height, pixels) = maqet_screen::parse_ppm(data).ok_or_else(|| {
        MaqetError::new(
            ErrorKind::Failure,
            format!(
                "{} is not a P6 PPM image as QEMU writes them",
                ppm.display()
            ),
        )
    })?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(out), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let write = encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(pixels).and_then(|()| w.finish()));
    write.map_err(|e| {
        MaqetError::with_source(
            ErrorKind::Failure,
            format!("cannot write {}", png_path.display()),
            e,
        )
    })
}
