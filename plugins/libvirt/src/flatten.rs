//! qcow2 overlays made into single files before upload.
//!
//! A cloud-image VM's disk is normally an overlay on a base image. A storage pool volume is
//! one file, so `deploy` flattens the chain with `qemu-img convert -O qcow2` into a private
//! temporary directory (under `$TMPDIR`, default `/tmp`, mode 0700) and uploads the result;
//! the directory is removed when the upload is done. An overlay maqet has not created yet
//! (the VM never started) is first created there from its `backing_file` and `size` exactly as
//! maqet would, then flattened the same way. Flattening rather than uploading the chain keeps
//! one volume per disk, so `undeploy` and redeploys need not track shared base images.
//! A UEFI VM's variable store (qcow2 under maqet) is converted the same way, to the raw file
//! libvirt 9 wants for `<nvram>`.

use std::path::{Path, PathBuf};
use std::process::Command;

use maqet_export_render::HostMessage;
use maqet_export_render::vm::Disk;
use serde_json::Value;

use crate::error::DeployError;

/// A flattened image, deleted with its directory on drop.
pub struct Flattened {
    _dir: tempfile::TempDir,
    /// The single-file qcow2 image.
    pub path: PathBuf,
}

/// The flattened image of `disk` when it is (or will be) a qcow2 overlay, else `None`.
pub fn flatten_if_overlay(disk: &Disk) -> Result<Option<Flattened>, DeployError> {
    if disk.format != "qcow2" || disk.cdrom {
        return Ok(None);
    }
    let file = Path::new(&disk.file);
    let source = if file.exists() {
        let info = image_info(disk, file)?;
        if info["backing-filename"].as_str().is_none() {
            return Ok(None);
        }
        None
    } else {
        match &disk.backing_file {
            Some(backing) if !disk.user_file => Some(backing.clone()),
            _ => return Ok(None),
        }
    };
    let dir = tempfile::Builder::new()
        .prefix("maqet-deploy-")
        .tempdir()
        .map_err(|source| DeployError::TempDir { source })?;
    let input = match source {
        None => file.to_path_buf(),
        Some(backing) => {
            let backing_path = Path::new(&backing);
            if !backing_path.exists() {
                return Err(DeployError::MissingFile {
                    what: format!("the backing image of drive `{}`", disk.name),
                    path: backing_path.to_owned(),
                });
            }
            let backing_format = image_info(disk, backing_path)?["format"]
                .as_str()
                .unwrap_or("raw")
                .to_owned();
            let overlay = dir.path().join("overlay.qcow2");
            let mut create = Command::new("qemu-img");
            create
                .args(["create", "-q", "-f", "qcow2", "-b"])
                .arg(backing_path)
                .args(["-F", &backing_format])
                .arg(&overlay);
            if let Some(size) = &disk.size {
                create.arg(size);
            }
            run(disk, "create the overlay", &mut create)?;
            overlay
        }
    };
    let path = dir.path().join("flat.qcow2");
    run(
        disk,
        "flatten the overlay",
        Command::new("qemu-img")
            .args(["convert", "-q", "-U", "-O", "qcow2"])
            .arg(&input)
            .arg(&path),
    )?;
    Ok(Some(Flattened { _dir: dir, path }))
}

/// A raw copy of the VM's qcow2 UEFI variable store `nvram`, for upload.
pub fn raw_nvram(vm: &str, nvram: &Path) -> Result<Flattened, DeployError> {
    let dir = tempfile::Builder::new()
        .prefix("maqet-deploy-")
        .tempdir()
        .map_err(|source| DeployError::TempDir { source })?;
    let path = dir.path().join("VARS.fd");
    maqet_export_render::nvram::convert_to_raw(nvram, &path).map_err(|source| {
        DeployError::Nvram {
            vm: vm.to_owned(),
            path: nvram.to_owned(),
            source,
        }
    })?;
    Ok(Flattened { _dir: dir, path })
}

fn image_info(disk: &Disk, path: &Path) -> Result<Value, DeployError> {
    let out = run(
        disk,
        "read the image",
        Command::new("qemu-img")
            .args(["info", "-U", "--output=json"])
            .arg(path),
    )?;
    serde_json::from_slice(&out).map_err(|e| DeployError::QemuImg {
        drive: disk.name.clone(),
        action: "read the image",
        source: HostMessage(format!("qemu-img printed no JSON: {e}")),
    })
}

fn run(disk: &Disk, action: &'static str, command: &mut Command) -> Result<Vec<u8>, DeployError> {
    let failed = |message: String| DeployError::QemuImg {
        drive: disk.name.clone(),
        action,
        source: HostMessage(message),
    };
    let out = command
        .output()
        .map_err(|e| failed(format!("cannot run qemu-img: {e}")))?;
    if !out.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    Ok(out.stdout)
}
