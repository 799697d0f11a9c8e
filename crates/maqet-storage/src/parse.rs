//! Validation of the `storage:` list of a VM configuration.
//!
//! Names are required: configurations are merged drive-by-drive by name, and the name is
//! the QEMU device id and block node-name that snapshots refer to, so a silently generated
//! `drive0` would change meaning when the list is reordered.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::{ByteSize, DriveKind, DriveSpec, Interface, Media, SecurityModel, StorageError};

/// Longest drive name: QEMU block node-names hold at most 31 characters.
pub const MAX_NAME_LEN: usize = 31;

const ALL_FIELDS: &[&str] = &[
    "name",
    "type",
    "file",
    "size",
    "interface",
    "media",
    "readonly",
    "backing_file",
    "backing_format",
    "cache",
    "from",
    "sha256",
    "checksums",
    "path",
    "mount_tag",
    "security_model",
];
const IMAGE_ONLY: &[&str] = &[
    "file",
    "size",
    "interface",
    "media",
    "backing_file",
    "backing_format",
    "cache",
    "from",
    "sha256",
    "checksums",
];
const VIRTFS_ONLY: &[&str] = &["path", "mount_tag", "security_model"];
const CACHE_MODES: &[&str] = &["none", "writeback", "writethrough", "directsync", "unsafe"];

/// Parses and validates a VM configuration's `storage:` list.
///
/// Errors carry the location of the bad value (e.g. `storage[1].size`) in
/// [`StorageError::config_path`]. `null` is an empty list. Whether image files exist is not
/// checked here: that happens when the VM starts (see [`crate::prepare_image`]).
pub fn parse_drives(value: &Value) -> Result<Vec<DriveSpec>, StorageError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => {
            return Err(StorageError::invalid(
                "storage",
                format!("expected a list of drives, found {}", type_name(other)),
            ));
        }
    };
    let mut drives = Vec::with_capacity(items.len());
    let mut seen_names: HashMap<String, usize> = HashMap::new();
    let mut seen_tags: HashMap<String, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let at = format!("storage[{index}]");
        let drive = parse_drive(item, &at)?;
        if let Some(first) = seen_names.insert(drive.name.clone(), index) {
            return Err(StorageError::invalid(
                format!("{at}.name"),
                format!(
                    "duplicate drive name '{}' (already used by storage[{first}]); names must be unique",
                    drive.name
                ),
            ));
        }
        if drive.kind == DriveKind::Virtfs {
            let tag = drive.effective_mount_tag().to_owned();
            if let Some(first) = seen_tags.insert(tag.clone(), index) {
                return Err(StorageError::invalid(
                    format!("{at}.mount_tag"),
                    format!(
                        "mount tag '{tag}' is already used by storage[{first}]; set a different `mount_tag`"
                    ),
                ));
            }
        }
        drives.push(drive);
    }
    Ok(drives)
}

/// Checks a drive name: a letter, then letters, digits, `_` or `-`, at most 31 characters.
pub fn validate_drive_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("the name is empty".to_owned()),
        Some(first) if !first.is_ascii_alphabetic() => {
            return Err(format!(
                "'{name}' must start with a letter (it becomes a QEMU id)"
            ));
        }
        Some(_) => {}
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(format!(
            "'{name}' contains '{}'; use only letters, digits, '_' and '-'",
            bad.escape_default()
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("'{name}' is longer than {MAX_NAME_LEN} characters"));
    }
    Ok(())
}

fn parse_drive(item: &Value, at: &str) -> Result<DriveSpec, StorageError> {
    let Value::Object(obj) = item else {
        return Err(StorageError::invalid(
            at,
            format!(
                "expected a mapping with at least `name:`, found {}",
                type_name(item)
            ),
        ));
    };
    check_unknown_fields(obj, at)?;
    let Some(name) = get_str(obj, "name", at)? else {
        return Err(StorageError::invalid(
            format!("{at}.name"),
            "every drive needs a `name:` (it identifies the drive in merges, snapshots and QEMU)",
        ));
    };
    validate_drive_name(&name)
        .map_err(|reason| StorageError::invalid(format!("{at}.name"), reason))?;

    let media = get_choice(obj, "media", at, &["disk", "cdrom"])?.map_or(Media::Disk, |m| {
        if m == "cdrom" {
            Media::Cdrom
        } else {
            Media::Disk
        }
    });
    let kind = match get_str(obj, "type", at)? {
        None if media == Media::Cdrom => DriveKind::Raw,
        None => DriveKind::Qcow2,
        Some(text) => parse_kind(&text, &format!("{at}.type"))?,
    };
    let field_names: &[&str] = if kind == DriveKind::Virtfs {
        IMAGE_ONLY
    } else {
        VIRTFS_ONLY
    };
    if let Some(key) = field_names.iter().find(|key| obj.contains_key(**key)) {
        return Err(StorageError::invalid(
            format!("{at}.{key}"),
            format!("`{key}` does not apply to {kind} drives; remove it"),
        ));
    }

    let mut drive = DriveSpec::new(name);
    drive.kind = kind;
    drive.media = media;
    drive.file = get_path(obj, "file", at)?;
    drive.path = get_path(obj, "path", at)?;
    drive.backing_file = get_path(obj, "backing_file", at)?;
    drive.size = get_size(obj, at)?;
    drive.readonly = get_bool(obj, "readonly", at)?.unwrap_or(false);
    drive.interface = match get_choice(
        obj,
        "interface",
        at,
        &["virtio", "sata", "ide", "scsi", "none"],
    )? {
        Some("sata") => Interface::Sata,
        Some("ide") => Interface::Ide,
        Some("scsi") => Interface::Scsi,
        Some("none") => Interface::None,
        _ => Interface::Virtio,
    };
    drive.backing_format =
        get_choice(obj, "backing_format", at, &["qcow2", "raw"])?.map(str::to_owned);
    drive.cache = get_choice(obj, "cache", at, CACHE_MODES)?.map(str::to_owned);
    drive.from = get_str(obj, "from", at)?;
    drive.sha256 = get_str(obj, "sha256", at)?;
    drive.checksums = get_str(obj, "checksums", at)?;
    crate::images::check_drive_source(&mut drive, at)?;
    drive.security_model = get_choice(
        obj,
        "security_model",
        at,
        &["passthrough", "mapped-xattr", "mapped-file", "none"],
    )?
    .map(|m| match m {
        "mapped-xattr" => SecurityModel::MappedXattr,
        "mapped-file" => SecurityModel::MappedFile,
        "none" => SecurityModel::None,
        _ => SecurityModel::Passthrough,
    });
    drive.mount_tag = get_str(obj, "mount_tag", at)?;
    if let Some(tag) = &drive.mount_tag
        && (tag.is_empty() || tag.chars().any(char::is_control))
    {
        return Err(StorageError::invalid(
            format!("{at}.mount_tag"),
            "the mount tag must be non-empty text without control characters",
        ));
    }
    check_combinations(&mut drive, obj, at)?;
    Ok(drive)
}

fn check_combinations(
    drive: &mut DriveSpec,
    obj: &Map<String, Value>,
    at: &str,
) -> Result<(), StorageError> {
    if drive.kind == DriveKind::Virtfs {
        if drive.path.is_none() {
            return Err(StorageError::invalid(
                format!("{at}.path"),
                "a virtfs drive needs `path:` (the host directory to share)",
            ));
        }
        return Ok(());
    }
    if drive.media == Media::Cdrom {
        if obj.get("readonly") == Some(&Value::Bool(false)) {
            return Err(StorageError::invalid(
                format!("{at}.readonly"),
                "a CD-ROM is always read-only; remove `readonly: false`",
            ));
        }
        drive.readonly = true;
        for key in ["size", "backing_file"] {
            if obj.contains_key(key) {
                return Err(StorageError::invalid(
                    format!("{at}.{key}"),
                    format!(
                        "`{key}` does not apply to a CD-ROM (maqet never creates ISO images); remove it"
                    ),
                ));
            }
        }
        if drive.file.is_none() {
            return Err(StorageError::invalid(
                format!("{at}.file"),
                "a CD-ROM needs `file:` (the ISO image)",
            ));
        }
    }
    if drive.kind == DriveKind::Raw {
        for key in ["backing_file", "backing_format"] {
            if obj.contains_key(key) {
                return Err(StorageError::invalid(
                    format!("{at}.{key}"),
                    format!(
                        "raw images cannot have a backing file; use `type: qcow2` or remove `{key}`"
                    ),
                ));
            }
        }
    }
    if drive.backing_format.is_some() && drive.backing_file.is_none() {
        return Err(StorageError::invalid(
            format!("{at}.backing_format"),
            "`backing_format` needs `backing_file`",
        ));
    }
    Ok(())
}

fn parse_kind(text: &str, at: &str) -> Result<DriveKind, StorageError> {
    match text.to_ascii_lowercase().as_str() {
        "qcow2" => Ok(DriveKind::Qcow2),
        "raw" => Ok(DriveKind::Raw),
        "virtfs" => Ok(DriveKind::Virtfs),
        "cdrom" | "iso" | "dvd" => Err(StorageError::invalid(
            at,
            format!("unknown type '{text}'; for a CD-ROM use `type: raw` with `media: cdrom`"),
        )),
        _ => Err(StorageError::invalid(
            at,
            format!(
                "unknown type '{text}'{}; expected qcow2, raw or virtfs",
                suggest(text, &["qcow2", "raw", "virtfs"])
            ),
        )),
    }
}

fn check_unknown_fields(obj: &Map<String, Value>, at: &str) -> Result<(), StorageError> {
    for key in obj.keys() {
        if ALL_FIELDS.contains(&key.as_str()) {
            continue;
        }
        let reason = if key == "options" {
            "unknown field `options`; write `mount_tag`, `security_model` and `readonly` directly on the drive".to_owned()
        } else {
            format!("unknown field `{key}`{}", suggest(key, ALL_FIELDS))
        };
        return Err(StorageError::invalid(format!("{at}.{key}"), reason));
    }
    Ok(())
}

/// ", did you mean `x`?" for the closest candidate within edit distance 2, else "".
fn suggest(input: &str, candidates: &[&str]) -> String {
    let lower = input.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&lower, c), *c))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn wrong_type(at: &str, key: &str, expected: &str, found: &Value) -> StorageError {
    StorageError::invalid(
        format!("{at}.{key}"),
        format!("expected {expected}, found {}", type_name(found)),
    )
}

fn get_str(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, StorageError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(wrong_type(at, key, "text", other)),
    }
}

fn get_bool(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<bool>, StorageError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(other) => Err(wrong_type(at, key, "true or false", other)),
    }
}

fn get_path(
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<PathBuf>, StorageError> {
    match get_str(obj, key, at)? {
        None => Ok(None),
        Some(text) if text.trim().is_empty() || text.contains('\0') => Err(StorageError::invalid(
            format!("{at}.{key}"),
            "expected a file path, found empty text",
        )),
        Some(text) => Ok(Some(PathBuf::from(text))),
    }
}

fn get_size(obj: &Map<String, Value>, at: &str) -> Result<Option<ByteSize>, StorageError> {
    let parsed = match obj.get("size") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text.parse::<ByteSize>(),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(bytes) => bytes.to_string().parse::<ByteSize>(),
            None => n.to_string().parse::<ByteSize>(),
        },
        Some(other) => return Err(wrong_type(at, "size", "a size such as 10G", other)),
    };
    let size =
        parsed.map_err(|err| StorageError::invalid(format!("{at}.size"), err.to_string()))?;
    if !size.bytes().is_multiple_of(DISK_SECTOR) {
        return Err(StorageError::invalid(
            format!("{at}.size"),
            format!(
                "{} bytes is not a whole number of {DISK_SECTOR}-byte sectors, and QEMU would round it up; \
                 give a multiple of 512 bytes (for example 1K or 512B)",
                size.bytes()
            ),
        ));
    }
    Ok(Some(size))
}

/// Disk images are a whole number of sectors: QEMU rounds any other size up.
const DISK_SECTOR: u64 = 512;

fn get_choice<'c>(
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
    choices: &[&'c str],
) -> Result<Option<&'c str>, StorageError> {
    let Some(text) = get_str(obj, key, at)? else {
        return Ok(None);
    };
    let lower = text.to_ascii_lowercase();
    match choices.iter().find(|c| **c == lower) {
        Some(choice) => Ok(Some(choice)),
        None => Err(StorageError::invalid(
            format!("{at}.{key}"),
            format!(
                "'{text}' is not allowed{}; expected one of {}",
                suggest(&text, choices),
                choices.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
