//! The drive model: one item of a VM configuration's `storage:` list.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ByteSize;

/// What backs a drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriveKind {
    /// A qcow2 image (supports snapshots and backing files).
    #[default]
    Qcow2,
    /// A raw image (also used for ISO files).
    Raw,
    /// A host directory shared with the guest over 9p.
    Virtfs,
}

impl DriveKind {
    /// The name used in configs and as the qemu-img format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qcow2 => "qcow2",
            Self::Raw => "raw",
            Self::Virtfs => "virtfs",
        }
    }

    /// Whether the drive is an image file (not a shared directory).
    pub fn is_image(self) -> bool {
        !matches!(self, Self::Virtfs)
    }
}

impl fmt::Display for DriveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bus a drive is attached to in the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    /// virtio-blk (CD-ROMs go on a virtio-scsi controller).
    #[default]
    Virtio,
    /// A dedicated AHCI controller (`ahci0`, 6 ports).
    Sata,
    /// The machine's built-in IDE/AHCI controller (`ide.0`, `ide.1`).
    Ide,
    /// A virtio-scsi controller (`scsi0`).
    Scsi,
    /// Only the backend; the user attaches it with their own `-device`.
    None,
}

impl Interface {
    /// Every interface, in declaration order.
    pub const ALL: [Interface; 5] = [
        Interface::Virtio,
        Interface::Sata,
        Interface::Ide,
        Interface::Scsi,
        Interface::None,
    ];

    /// The name used in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Virtio => "virtio",
            Self::Sata => "sata",
            Self::Ide => "ide",
            Self::Scsi => "scsi",
            Self::None => "none",
        }
    }
}

/// Whether the guest sees a disk or a CD-ROM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    /// A hard disk.
    #[default]
    Disk,
    /// A read-only CD-ROM drive.
    Cdrom,
}

/// How a virtfs share maps guest file ownership and modes onto the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityModel {
    /// Files carry the guest's credentials directly (needs privileges on the host).
    #[default]
    Passthrough,
    /// Guest credentials are stored in extended attributes.
    MappedXattr,
    /// Guest credentials are stored in hidden files.
    MappedFile,
    /// Like passthrough, but failures to set ownership are ignored.
    None,
}

impl SecurityModel {
    /// The QEMU spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passthrough => "passthrough",
            Self::MappedXattr => "mapped-xattr",
            Self::MappedFile => "mapped-file",
            Self::None => "none",
        }
    }
}

/// One validated drive of a VM (an item of the YAML `storage:` list).
///
/// Build it from user input with [`crate::parse_drives`], which validates and reports
/// locations; the serde impls are for storing and reloading specs that were already validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriveSpec {
    /// Unique name; also the QEMU device id and block node-name.
    pub name: String,
    /// Image format or virtfs.
    #[serde(rename = "type", default)]
    pub kind: DriveKind,
    /// Image file (absent: a default path in the VM data directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Size used when the image has to be created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
    /// Guest bus.
    #[serde(default, skip_serializing_if = "is_default")]
    pub interface: Interface,
    /// Disk or CD-ROM.
    #[serde(default, skip_serializing_if = "is_default")]
    pub media: Media,
    /// Attach read-only (always true for CD-ROMs).
    #[serde(default, skip_serializing_if = "is_default")]
    pub readonly: bool,
    /// Backing image for a new qcow2 overlay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backing_file: Option<PathBuf>,
    /// Format of the backing image (`qcow2` or `raw`; probed when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backing_format: Option<String>,
    /// QEMU cache mode (`none`, `writeback`, `writethrough`, `directsync`, `unsafe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// Image the new disk is made from (an `http(s)://` URL or a local path): it is fetched
    /// into the image cache and the disk becomes a qcow2 overlay on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Expected SHA-256 of the `from` image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A `SHA256SUMS` file (URL or path) listing the `from` image's digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksums: Option<String>,
    /// virtfs: the shared host directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// virtfs: the tag the guest mounts (defaults to the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_tag: Option<String>,
    /// virtfs: the security model (defaults to passthrough).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_model: Option<SecurityModel>,
}

impl DriveSpec {
    /// A qcow2 virtio disk with the given name and every other setting at its default.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: DriveKind::Qcow2,
            file: None,
            size: None,
            interface: Interface::Virtio,
            media: Media::Disk,
            readonly: false,
            backing_file: None,
            backing_format: None,
            cache: None,
            from: None,
            sha256: None,
            checksums: None,
            path: None,
            mount_tag: None,
            security_model: None,
        }
    }

    /// The tag the guest uses to mount a virtfs share.
    pub fn effective_mount_tag(&self) -> &str {
        self.mount_tag.as_deref().unwrap_or(&self.name)
    }

    /// Whether the guest can write to this drive.
    pub fn is_writable(&self) -> bool {
        !self.readonly && self.media == Media::Disk
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
