//! The storage and `ports` keys of a maqet config, read into the [`VmView`](crate::vm::VmView)'s
//! plain types.

use serde_json::{Map, Value};

use crate::error::ExportError;
use crate::vm::{Bus, Disk, PortForward, SharedDir};

pub(crate) fn read_disks(
    config: &Map<String, Value>,
    data_dir: Option<&str>,
    problem: &dyn Fn(String) -> ExportError,
) -> Result<Vec<Disk>, ExportError> {
    let mut disks = Vec::new();
    let storage = config.get("storage").and_then(Value::as_array);
    for (index, drive) in storage.into_iter().flatten().enumerate() {
        let drive_name = drive["name"]
            .as_str()
            .map_or_else(|| format!("storage{index}"), str::to_owned);
        let field = |key: &str| drive[key].as_str().map(str::to_owned);
        let kind = field("type").unwrap_or_else(|| "qcow2".to_owned());
        if kind == "virtfs" {
            continue;
        }
        let cdrom = field("media").as_deref() == Some("cdrom");
        let file = match (field("file"), data_dir) {
            (Some(file), _) => file,
            (None, Some(dir)) if kind == "qcow2" => format!("{dir}/{drive_name}.qcow2"),
            _ => return Err(problem(format!("drive `{drive_name}` has no file"))),
        };
        // maqet records the default file it picks; files in its data dir are its own.
        let user_file = data_dir
            .is_none_or(|dir| !file.starts_with(&format!("{}/", dir.trim_end_matches('/'))));
        let bus = match field("interface").as_deref() {
            Some("sata") => Bus::Sata,
            Some("ide") => Bus::Ide,
            Some("scsi") => Bus::Scsi,
            Some("none") => {
                return Err(problem(format!(
                    "drive `{drive_name}` has `interface: none` (no device), which libvirt cannot \
                     describe; give it a bus"
                )));
            }
            _ if cdrom => Bus::Scsi,
            _ => Bus::Virtio,
        };
        disks.push(Disk {
            name: drive_name,
            file,
            format: kind,
            bus,
            cdrom,
            readonly: drive["readonly"].as_bool().unwrap_or(false),
            cache: field("cache"),
            size: field("size"),
            backing_file: field("backing_file"),
            user_file,
            volume: None,
        });
    }
    Ok(disks)
}

pub(crate) fn read_shared_dirs(
    config: &Map<String, Value>,
    problem: &dyn Fn(String) -> ExportError,
) -> Result<Vec<SharedDir>, ExportError> {
    let mut dirs = Vec::new();
    let storage = config.get("storage").and_then(Value::as_array);
    for (index, drive) in storage.into_iter().flatten().enumerate() {
        if drive["type"].as_str() != Some("virtfs") {
            continue;
        }
        let drive_name = drive["name"]
            .as_str()
            .map_or_else(|| format!("storage{index}"), str::to_owned);
        let path = drive["path"]
            .as_str()
            .ok_or_else(|| problem(format!("virtfs drive `{drive_name}` has no path")))?;
        let security_model = drive["security_model"]
            .as_str()
            .or_else(|| drive["options"]["security_model"].as_str())
            .unwrap_or("passthrough");
        dirs.push(SharedDir {
            name: drive_name.clone(),
            path: path.to_owned(),
            mount_tag: drive["mount_tag"]
                .as_str()
                .map_or_else(|| drive_name.clone(), str::to_owned),
            security_model: security_model.to_owned(),
            readonly: drive["readonly"].as_bool().unwrap_or(false),
        });
    }
    Ok(dirs)
}

/// maqet's `ports` key: `[{host: 2222, guest: 22, proto: tcp, host_addr: 127.0.0.1}]`.
pub(crate) fn read_ports(
    config: &Map<String, Value>,
    problem: &dyn Fn(String) -> ExportError,
) -> Result<Vec<PortForward>, ExportError> {
    let mut ports = Vec::new();
    let list = config.get("ports").and_then(Value::as_array);
    for (index, port) in list.into_iter().flatten().enumerate() {
        let number = |key: &str| -> Result<u16, ExportError> {
            let value = match &port[key] {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
            value
                .and_then(|v| u16::try_from(v).ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| problem(format!("ports[{index}].{key} is not a port number")))
        };
        ports.push(PortForward {
            proto: port["proto"].as_str().unwrap_or("tcp").to_owned(),
            // maqet opens a port on 127.0.0.1 unless `host_addr` says otherwise.
            host_addr: Some(port["host_addr"].as_str().unwrap_or("127.0.0.1").to_owned()),
            host: number("host")?,
            guest: number("guest")?,
        });
    }
    Ok(ports)
}
