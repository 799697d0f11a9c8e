//! The other files one image makes QEMU open, as `qemu-img info -U --output=json` reports
//! them: its backing file (with that file's recorded format) and a qcow2 external data file.
//!
//! One image at a time, never `--backing-chain`: a caller that checks each name before it
//! asks about the file behind it never has qemu-img open a file it has not checked.
//! `qemu-img info` opens an image without its backing file and (QEMU 7.2.12 and later) without
//! its data file, so only the named image itself is opened.

use std::ffi::OsString;
use std::path::Path;

use serde::Deserialize;

use super::QemuImg;
use super::run::Job;
use crate::StorageError;

/// What one image names besides itself, exactly as written in its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReferences {
    /// The format qemu-img opened the image with (the one asked for, or the probed one).
    pub format: String,
    /// The backing file as the image records it (may be relative, `json:` or a protocol).
    pub backing_file: Option<String>,
    /// The backing file as QEMU resolves it (relative names against the image's directory).
    pub full_backing_file: Option<String>,
    /// The backing file's recorded format.
    pub backing_format: Option<String>,
    /// A qcow2 image's external data file, as the image records it.
    pub data_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawReferences {
    format: String,
    backing_filename: Option<String>,
    full_backing_filename: Option<String>,
    backing_filename_format: Option<String>,
    format_specific: Option<FormatSpecific>,
}

#[derive(Deserialize)]
struct FormatSpecific {
    #[serde(default)]
    data: serde_json::Value,
}

impl QemuImg {
    /// Reads the files `path` names, with `-U` (works while a VM holds the image) and `-f
    /// format` when given (otherwise qemu-img probes, as QEMU does without a format).
    pub fn references(
        &self,
        path: &Path,
        format: Option<&str>,
    ) -> Result<ImageReferences, StorageError> {
        let mut args: Vec<OsString> = vec!["info".into(), "--output=json".into(), "-U".into()];
        if let Some(format) = format {
            args.extend(["-f".into(), format.into()]);
        }
        args.extend(["--".into(), path.as_os_str().to_owned()]);
        let job = Job {
            operation: "read the backing and data files of",
            path,
            limited: true,
        };
        let stdout = self.run(args, &job, None)?;
        parse_references(&stdout).map_err(|source| StorageError::ToolOutput {
            tool: self.binary.display().to_string(),
            path: path.to_path_buf(),
            source,
        })
    }
}

fn parse_references(json: &[u8]) -> Result<ImageReferences, serde_json::Error> {
    let raw: RawReferences = serde_json::from_slice(json)?;
    let data_file = raw
        .format_specific
        .as_ref()
        .and_then(|specific| specific.data.get("data-file"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    Ok(ImageReferences {
        format: raw.format,
        backing_file: raw.backing_filename,
        full_backing_file: raw.full_backing_filename,
        backing_format: raw.backing_filename_format,
        data_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backing_and_data_files_are_read_from_qemu_7_json() {
        let json = br#"{"virtual-size": 1048576, "filename": "/t/d.qcow2", "format": "qcow2",
            "backing-filename": "base.raw", "full-backing-filename": "/t/base.raw",
            "backing-filename-format": "raw",
            "format-specific": {"type": "qcow2", "data": {"compat": "1.1",
                "data-file": "/srv/data.raw", "data-file-raw": false}}}"#;
        let refs = parse_references(json).unwrap();
        assert_eq!(refs.format, "qcow2");
        assert_eq!(refs.backing_file.as_deref(), Some("base.raw"));
        assert_eq!(refs.full_backing_file.as_deref(), Some("/t/base.raw"));
        assert_eq!(refs.backing_format.as_deref(), Some("raw"));
        assert_eq!(refs.data_file.as_deref(), Some("/srv/data.raw"));
        let plain = parse_references(br#"{"format": "raw", "virtual-size": 1}"#).unwrap();
        assert_eq!(plain.backing_file, None);
        assert_eq!(plain.data_file, None);
    }
}
