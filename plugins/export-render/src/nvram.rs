//! The VM's UEFI variables in the form libvirt boots with.
//!
//! maqet keeps a UEFI VM's variable store as qcow2 (so snapshots include it); libvirt 9.0
//! wants a raw file for `<nvram>`. `maqet export` and `maqet deploy` therefore convert a copy,
//! so the exported domain keeps its boot entries and enrolled keys.

use std::path::Path;
use std::process::Command;

use crate::HostMessage;

/// Writes the raw image of the qcow2 variable store `qcow2` to `raw` (replacing it).
///
/// The copy is read with `-U`: a running VM's store is copied as it is at that moment.
pub fn convert_to_raw(qcow2: &Path, raw: &Path) -> Result<(), HostMessage> {
    let out = Command::new("qemu-img")
        .args(["convert", "-q", "-U", "-f", "qcow2", "-O", "raw"])
        .arg(qcow2)
        .arg(raw)
        .output()
        .map_err(|e| HostMessage(format!("cannot run qemu-img: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HostMessage(format!(
            "qemu-img convert failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Where `maqet export --output FILE` writes the raw variables: `STEM_VARS.fd` beside `FILE`
/// (libvirt's own naming), as an absolute path (`<nvram>` needs one).
pub fn path_beside(output: &Path) -> std::io::Result<std::path::PathBuf> {
    let output = std::path::absolute(output)?;
    let stem = output
        .file_stem()
        .map_or_else(|| "domain".into(), |s| s.to_string_lossy().into_owned());
    let dir = output.parent().unwrap_or_else(|| Path::new("/"));
    Ok(dir.join(format!("{stem}_VARS.fd")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_raw_copy_sits_beside_the_output_named_after_it() {
        let path = path_beside(Path::new("/srv/exports/web.xml")).unwrap();
        assert_eq!(path, Path::new("/srv/exports/web_VARS.fd"));
        assert!(path_beside(Path::new("web.xml")).unwrap().is_absolute());
    }

    #[test]
    fn a_missing_store_fails_with_qemu_img_s_reason() {
        let dir = std::env::temp_dir();
        let err = convert_to_raw(
            &dir.join("maqet-no-such-vars.qcow2"),
            &dir.join("maqet-no-such-vars.fd"),
        )
        .unwrap_err();
        assert!(err.0.contains("qemu-img"), "{err}");
    }
}
