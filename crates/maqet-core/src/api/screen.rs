//! `screen text` and `screen find`: what the VM's screen shows, read by OCR or found as a
//! needle image, for writing scripts; and `--record DIR` pictures of input steps.

use std::path::{Path, PathBuf};

use maqet_macros::{api_method, api_requests};
use maqet_screen::{Frame, Needle, NeedleMatch, Region};
use maqet_state::VmRecord;
use serde::Serialize;

use crate::registry::CommandOutput;
use crate::screen_capture::{ScreenCapture, screen_error};
use crate::{Maqet, MaqetError};

/// `screen text`: the text OCR read.
#[derive(Debug, Clone, Serialize)]
pub struct ScreenText {
    /// The recognised text, one screen line per line.
    pub text: String,
    /// The part of the screen read (`X,Y,W,H`), or the whole screen when absent.
    pub region: Option<String>,
}

impl CommandOutput for ScreenText {
    fn human(&self) -> Option<String> {
        Some(self.text.clone())
    }
}

/// `screen find`: where the needle matched best and whether that is good enough.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct ScreenMatch(pub NeedleMatch);

impl CommandOutput for ScreenMatch {
    fn human(&self) -> Option<String> {
        let m = &self.0;
        Some(format!(
            "{} score {:.3} at {},{} size {}x{}",
            if m.found { "found" } else { "not found:" },
            m.score,
            m.x,
            m.y,
            m.w,
            m.h
        ))
    }
}

/// Parses `--region X,Y,W,H`.
pub(crate) fn parse_region(region: Option<&str>) -> Result<Option<Region>, MaqetError> {
    region
        .map(|r| r.parse::<Region>().map_err(screen_error))
        .transpose()
}

/// Checks `--threshold`: a share from 0 to 1.
pub(crate) fn check_threshold(threshold: Option<f64>) -> Result<Option<f64>, MaqetError> {
    match threshold {
        Some(t) if !(0.0..=1.0).contains(&t) => Err(MaqetError::invalid(format!(
            "`--threshold {t}` must be between 0 and 1 (e.g. 0.96)"
        ))),
        other => Ok(other),
    }
}

/// Saves `frame` as the next numbered picture in `dir` (`0001-LABEL.png`, ...), making `dir`
/// when it does not exist; returns the file.
pub(crate) fn record_step(dir: &Path, label: &str, frame: &Frame) -> Result<PathBuf, MaqetError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| MaqetError::io(format!("cannot make the record dir {}", dir.display()), e))?;
    let taken = std::fs::read_dir(dir)
        .map_err(|e| MaqetError::io(format!("cannot list the record dir {}", dir.display()), e))?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .count();
    let bytes = frame.png_bytes().map_err(|e| {
        MaqetError::with_source(
            crate::ErrorKind::Failure,
            "cannot encode the screen as PNG",
            e,
        )
    })?;
    for n in taken + 1.. {
        let file = dir.join(format!("{n:04}-{label}.png"));
        match write_new(&file, &bytes) {
            Ok(()) => return Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(MaqetError::io(
                    format!("cannot write {}", file.display()),
                    e,
                ));
            }
        }
    }
    unreachable!("the numbers run out before the files do")
}

/// Writes a file that must not exist yet (never follows a planted symlink).
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)
}

impl Maqet {
    /// One picture of a running VM's screen.
    pub(crate) fn screen_frame(&self, record: &VmRecord) -> Result<Frame, MaqetError> {
        let capture = ScreenCapture::new(&self.vm_paths(record).runtime_dir)?;
        self.block_on(async {
            let client = self.qmp_client(record).await?;
            capture.grab(&client).await
        })?
    }

    /// With `--record DIR`: saves the screen as the next step picture, labelled `label`.
    pub(crate) fn record_screen(
        &self,
        record: &VmRecord,
        dir: Option<&Path>,
        label: &str,
    ) -> Result<(), MaqetError> {
        if let Some(dir) = dir {
            let frame = self.screen_frame(record)?;
            record_step(&crate::config::absolute(dir), label, &frame)?;
        }
        Ok(())
    }
}

#[api_requests]
impl Maqet {
    /// Print the text on a VM's screen, read by OCR (Tesseract).
    #[api_method(
        group = "screen",
        name = "text",
        group_about = "Read a VM's screen: its text by OCR, or where an image shows on it",
        examples = ["maqet screen text web", "maqet screen text web --region 0,0,640,32"]
    )]
    pub fn screen_text(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(
            help = "Read only this part of the screen: X,Y,W,H in pixels",
            value_name = "X,Y,W,H"
        )]
        region: Option<String>,
    ) -> Result<ScreenText, MaqetError> {
        let area = parse_region(region.as_deref())?;
        let record = self.running_vm(&vm)?;
        let frame = self
            .screen_frame(&record)?
            .crop(area)
            .map_err(screen_error)?;
        let text = maqet_screen::ocr::read_text(&frame).map_err(screen_error)?;
        Ok(ScreenText {
            text,
            region: area.map(|r| r.to_string()),
        })
    }

    /// Find a needle image (PNG, or an openQA needle `.json` beside its `.png`) on a VM's screen
    /// and print its best score and place.
    #[api_method(
        group = "screen",
        name = "find",
        examples = [
            "maqet screen find web needles/login.png",
            "maqet screen find web needles/grub.json --threshold 0.9 --region 0,0,640,200"
        ]
    )]
    pub fn screen_find(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(
            positional,
            help = "Needle: a PNG, or an openQA needle .json beside its .png"
        )]
        needle: PathBuf,
        #[arg(help = "Score needed, 0-1 (default: the needle's, else 0.96)")] threshold: Option<
            f64,
        >,
        #[arg(
            help = "Search only this part of the screen: X,Y,W,H in pixels",
            value_name = "X,Y,W,H"
        )]
        region: Option<String>,
    ) -> Result<ScreenMatch, MaqetError> {
        let threshold = check_threshold(threshold)?;
        let area = parse_region(region.as_deref())?;
        let needle = Needle::load(&crate::config::absolute(&needle)).map_err(screen_error)?;
        let record = self.running_vm(&vm)?;
        let frame = self.screen_frame(&record)?;
        needle
            .find(&frame, area, threshold)
            .map(ScreenMatch)
            .map_err(screen_error)
    }
}
