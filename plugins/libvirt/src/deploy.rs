//! `maqet deploy VM --connect URI`: define the VM on a libvirt host, with its disks and boot
//! files uploaded into a storage pool there, and start it if asked.
//!
//! Every run uploads into new volumes (named with a per-run tag), defines the domain, and
//! only then deletes the volumes of the previous deployment; when anything fails before the
//! domain is defined, the volumes of this run are deleted again and the host is as it was.
//! qcow2 overlays are flattened before upload (see [`crate::flatten`]); a host without a
//! `default` pool gets one (see [`crate::pool`]). The domain is rendered for the target's
//! libvirt version, which decides how forwarded ports are carried. A UEFI VM's variables
//! (boot entries, enrolled keys) go along as a raw volume the domain's `<nvram>` names.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use maqet_export_render::libvirt::{LibvirtOptions, NetBackend, render_domain_with};
use maqet_export_render::vm::VmView;
use maqet_plugin_api::{Host, LogLevel, Request};
use serde_json::{Value, json};
use virt::connect::Connect;
use virt::domain::Domain;

use crate::connect::{self, failed, is_missing};
use crate::error::DeployError;
use crate::flatten::{flatten_if_overlay, raw_nvram};
use crate::metadata::deployed_volumes;
use crate::pool::open_pool;
use crate::upload::Uploads;

/// `VIR_DOMAIN_XML_INACTIVE`: the persistent definition.
const XML_INACTIVE: u32 = 2;

/// Define a VM on a libvirt host, with its disks uploaded into a storage pool there
#[derive(Debug, Clone, Request)]
#[request(
    name = "deploy",
    example = "maqet deploy web --connect qemu:///system --start",
    example = "maqet deploy web --connect qemu+ssh://root@host2/system --pool vms --start"
)]
pub struct DeployRequest {
    /// The VM to deploy
    #[param(positional)]
    pub vm: String,
    /// libvirt URI: qemu:///system, qemu+ssh://user@host/system, ...
    pub connect: String,
    /// Start the domain once defined
    pub start: bool,
    /// Storage pool for the uploaded disks (default: `default`, created as virt-install does when the host has none)
    pub pool: Option<String>,
    /// Domain name on the libvirt host (default: the VM's name)
    pub name: Option<String>,
    /// When the domain runs: stop it (virsh destroy), update it, start it again
    pub restart: bool,
}

/// Runs `deploy`.
pub fn deploy(request: &DeployRequest, host: &Host) -> Result<Value, DeployError> {
    let vm_name = &request.vm;
    let uri = request.connect.as_str();
    let info = host.vm_info(vm_name).map_err(|message| DeployError::Info {
        vm: vm_name.clone(),
        source: maqet_export_render::HostMessage(message),
    })?;
    let status = host
        .vm_status(vm_name)
        .map_err(|message| DeployError::Info {
            vm: vm_name.clone(),
            source: maqet_export_render::HostMessage(message),
        })?;
    if status["is_running"].as_bool() == Some(true) {
        return Err(DeployError::LocalVmRunning {
            vm: vm_name.clone(),
        });
    }
    let render_error = |source| DeployError::Render {
        vm: vm_name.clone(),
        source,
    };
    let mut vm = VmView::from_info(&info).map_err(render_error)?;
    let name = request.name.clone().unwrap_or_else(|| vm.name.clone());
    vm.name = name.clone();

    let conn = connect::open(uri)?;
    let version = conn
        .lib_version()
        .map_err(failed(uri, "report its version"))?;
    let version = (version / 1_000_000, version / 1000 % 1000, version % 1000);
    let opened = open_pool(&conn, uri, request.pool.as_deref())?;
    let pool_name = opened.name.clone();
    let mut warnings = Vec::new();
    if let Some(path) = &opened.created {
        host.log(
            LogLevel::Warn,
            &format!(
                "deploy of `{vm_name}`: libvirt at `{uri}` had no storage pool `default`; created \
                 it as virt-install does (a directory pool at {path}, started, autostart)"
            ),
        );
    }
    let pool = &opened.pool;
    let existing = find_existing(&conn, uri, vm_name, &vm.vm_id, &name)?;
    let was_running = match &existing {
        Some(domain) => domain
            .is_active()
            .map_err(failed(uri, format!("read the state of domain `{name}`")))?,
        None => false,
    };
    if was_running && !request.restart {
        return Err(DeployError::DomainRunning {
            uri: uri.to_owned(),
            name,
        });
    }
    let old_volumes = match &existing {
        Some(domain) => deployed_volumes(&domain.xml_desc(XML_INACTIVE).map_err(failed(
            uri,
            format!("read the definition of domain `{name}`"),
        ))?),
        None => Vec::new(),
    };

    let tag = run_tag();
    let mut uploads = Uploads::new(pool);
    let mut flattened = Vec::new();
    for disk in &mut vm.disks {
        let extension = if disk.cdrom {
            "iso"
        } else if disk.format == "qcow2" {
            "qcow2"
        } else {
            "img"
        };
        let volume = format!("{name}-{}-{tag}.{extension}", disk.name);
        let path = Path::new(&disk.file);
        let what = format!("the image of drive `{}`", disk.name);
        let missing = !path.exists();
        if let Some(flat) = flatten_if_overlay(disk)? {
            uploads.upload(&conn, uri, &volume, &what, &flat.path)?;
            flattened.push(disk.name.clone());
            disk.volume = Some((pool_name.clone(), volume));
            continue;
        }
        match (
            &disk.size,
            missing && !disk.user_file && disk.format == "qcow2",
        ) {
            (Some(size), true) => {
                let bytes = parse_size(size).ok_or(DeployError::MissingFile {
                    what: what.clone(),
                    path: path.to_owned(),
                })?;
                uploads.create_empty(uri, &volume, bytes, "qcow2")?;
            }
            _ => {
                uploads.upload(&conn, uri, &volume, &what, path)?;
            }
        }
        disk.volume = Some((pool_name.clone(), volume));
    }
    for (what, slot) in [
        ("kernel", &mut vm.kernel),
        ("initrd", &mut vm.initrd),
        ("dtb", &mut vm.dtb),
        ("bios", &mut vm.bios),
    ] {
        if let Some(local) = slot.clone() {
            let volume = format!("{name}-{what}-{tag}");
            let remote = uploads.upload(&conn, uri, &volume, what, Path::new(&local))?;
            *slot = Some(remote);
        }
    }
    let mut nvram = None;
    if vm.uefi
        && let Some(source) = &vm.nvram_source
    {
        let raw = raw_nvram(vm_name, Path::new(source))?;
        let volume = format!("{name}-nvram-{tag}.fd");
        nvram = Some(uploads.upload(&conn, uri, &volume, "the UEFI variables", &raw.path)?);
    }
    for dir in &vm.shared_dirs {
        warnings.push(format!(
            "virtfs share `{}` stays a path ({}) that must exist on the libvirt host; it is not copied",
            dir.mount_tag, dir.path
        ));
    }
    let options = LibvirtOptions {
        serial_log: None,
        net_backend: NetBackend::Auto,
        volumes: uploads
            .names()
            .into_iter()
            .map(|v| (pool_name.clone(), v))
            .collect(),
        libvirt_version: Some((version.0, version.1)),
        rename: None,
        nvram,
    };
    let rendered = render_domain_with(&vm, &options).map_err(render_error)?;
    warnings.extend(rendered.warnings);
    if let Some(network) = &rendered.network {
        host.log(LogLevel::Warn, &format!("deploy of `{vm_name}`: {network}"));
    }

    if was_running && let Some(domain) = &existing {
        domain
            .destroy()
            .map_err(failed(uri, format!("stop domain `{name}` for the update")))?;
    }
    let domain = conn
        .define_domain_xml(&rendered.text)
        .map_err(failed(uri, format!("define domain `{name}`")))?;
    let volumes = uploads.names();
    uploads.keep();
    for (old_pool, old_volume) in &old_volumes {
        if let Err(e) = delete_volume(&conn, old_pool, old_volume) {
            warnings.push(format!(
                "the previous deployment's volume `{old_volume}` in pool `{old_pool}` could not be deleted: {e}"
            ));
        }
    }
    let start = request.start || was_running;
    if start && let Err(e) = domain.create() {
        if existing.is_none() {
            undefine_and_delete(&conn, &domain, &pool_name, &volumes);
        }
        return Err(failed(uri, format!("start domain `{name}`"))(e));
    }
    for warning in &warnings {
        host.log(LogLevel::Warn, &format!("deploy of `{vm_name}`: {warning}"));
    }
    Ok(json!({
        "vm": vm_name,
        "domain": name,
        "uri": uri,
        "pool": pool_name,
        "created_pool": opened.created,
        "volumes": volumes,
        "flattened": flattened,
        "libvirt_version": format!("{}.{}.{}", version.0, version.1, version.2),
        "network": rendered.network,
        "updated": existing.is_some(),
        "started": start,
        "warnings": warnings,
    }))
}

/// The domain this VM was deployed as under `name`, refusing names and ids used otherwise.
pub fn find_existing(
    conn: &Connect,
    uri: &str,
    vm: &str,
    vm_id: &str,
    name: &str,
) -> Result<Option<Domain>, DeployError> {
    let by_name = match conn.lookup_domain_by_name(name) {
        Ok(domain) => Some(domain),
        Err(e) if is_missing(&e) => None,
        Err(e) => return Err(failed(uri, format!("look up domain `{name}`"))(e)),
    };
    if let Some(domain) = by_name {
        let uuid = domain
            .uuid_string()
            .map_err(failed(uri, format!("read the id of domain `{name}`")))?;
        if uuid != vm_id {
            return Err(DeployError::NameTaken {
                uri: uri.to_owned(),
                name: name.to_owned(),
            });
        }
        return Ok(Some(domain));
    }
    match conn.lookup_domain_by_uuid_string(vm_id) {
        Ok(domain) => {
            let existing = domain.name().map_err(failed(uri, "read a domain's name"))?;
            Err(DeployError::DeployedAsOther {
                vm: vm.to_owned(),
                uri: uri.to_owned(),
                existing,
            })
        }
        Err(_) => Ok(None),
    }
}

/// Deletes one volume; a volume already gone is not an error.
pub fn delete_volume(conn: &Connect, pool: &str, volume: &str) -> Result<(), virt::error::Error> {
    let pool = conn.lookup_storage_pool_by_name(pool)?;
    match pool.lookup_storage_vol_by_name(volume) {
        Ok(found) => found.delete(0),
        Err(e) if is_missing(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

fn undefine_and_delete(conn: &Connect, domain: &Domain, pool: &str, volumes: &[String]) {
    let _ = domain.undefine_flags(crate::undeploy::UNDEFINE_FLAGS);
    for volume in volumes {
        let _ = delete_volume(conn, pool, volume);
    }
}

/// A tag unique to this run, so new volumes never overwrite the running deployment's.
fn run_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:08x}",
        (nanos as u64 ^ u64::from(std::process::id())) & 0xffff_ffff
    )
}

/// A maqet drive size (`64M`, `10G`, bytes without a suffix) in bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.chars().last()? {
        'K' | 'k' => (&text[..text.len() - 1], 1u64 << 10),
        'M' | 'm' => (&text[..text.len() - 1], 1 << 20),
        'G' | 'g' => (&text[..text.len() - 1], 1 << 30),
        'T' | 't' => (&text[..text.len() - 1], 1 << 40),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_to_bytes() {
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn run_tags_are_eight_hex_digits() {
        let tag = run_tag();
        assert_eq!(tag.len(), 8);
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
