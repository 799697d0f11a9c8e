//! Screen pictures for screen waits, through a pipe: QEMU's `screendump` writes its PPM into a
//! FIFO in the VM's private runtime dir and maqet reads it as it is written, so no image file
//! is ever stored and the disk is not touched per poll.
//!
//! Nothing runs between polls and nothing runs in the runner: a capture exists only while a
//! command (`wait --screen-*`, `screen text`, `screen find`, `--record`) asks for a picture.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use maqet_qmp::QmpClient;
use maqet_screen::{Frame, ScreenError};

use crate::{ErrorKind, MaqetError};

/// Largest PPM accepted from QEMU: 16384 × 16384 pixels, 3 bytes each, plus the header.
const MAX_PPM_BYTES: u64 = 16384 * 16384 * 3 + 64;

/// A FIFO QEMU writes screendumps into; removed when dropped.
pub(crate) struct ScreenCapture {
    fifo: PathBuf,
}

impl ScreenCapture {
    /// Makes the FIFO (mode 0600) under a random name in `runtime_dir` (mode 0700, the user's).
    pub(crate) fn new(runtime_dir: &Path) -> Result<ScreenCapture, MaqetError> {
        let fifo = runtime_dir.join(format!("screen-{}.fifo", uuid::Uuid::new_v4().simple()));
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .map_err(|e| {
            MaqetError::io(
                format!("cannot make the screen pipe {}", fifo.display()),
                e.into(),
            )
        })?;
        Ok(ScreenCapture { fifo })
    }

    /// Asks QEMU for the screen and reads it from the pipe.
    pub(crate) async fn grab(&self, client: &QmpClient) -> Result<Frame, MaqetError> {
        let fifo = self.fifo.clone();
        let reader = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            // Blocks until QEMU opens the pipe for writing (or `release` below does).
            let file = std::fs::File::open(&fifo)?;
            let mut data = Vec::new();
            file.take(MAX_PPM_BYTES + 1).read_to_end(&mut data)?;
            Ok(data)
        });
        let dumped = client.screendump(&self.fifo, None).await;
        // QEMU has closed the pipe, or never opened it (an error): a writer that comes and goes
        // ends a reader still waiting in `open` with an empty read.
        while !reader.is_finished() {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.fifo)
            {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err(_) => break,
            }
        }
        let data = reader.await.map_err(|e| {
            MaqetError::new(ErrorKind::Failure, format!("the screen reader failed: {e}"))
        })?;
        dumped?;
        let data = data.map_err(|e| MaqetError::io("cannot read QEMU's screendump pipe", e))?;
        if data.len() as u64 > MAX_PPM_BYTES {
            return Err(MaqetError::new(
                ErrorKind::Failure,
                format!("QEMU's screendump is larger than {MAX_PPM_BYTES} bytes"),
            ));
        }
        Frame::from_ppm(&data).map_err(screen_error)
    }
}

impl Drop for ScreenCapture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.fifo);
    }
}

/// A [`ScreenError`] as maqet's error, with the exit code its cause deserves.
pub(crate) fn screen_error(err: ScreenError) -> MaqetError {
    let kind = match &err {
        ScreenError::BadRegion { .. } | ScreenError::Needle { .. } | ScreenError::Image { .. } => {
            ErrorKind::InvalidInput
        }
        ScreenError::File { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            ErrorKind::NotFound
        }
        _ => ErrorKind::Failure,
    };
    let context = match &err {
        ScreenError::NotPpm
        | ScreenError::TesseractMissing { .. }
        | ScreenError::TesseractFailed { .. } => "cannot read the screen",
        _ => "cannot use this screen input",
    };
    MaqetError::with_source(kind, context, err)
}
