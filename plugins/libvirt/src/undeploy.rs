//! `maqet undeploy VM --connect URI`: stop and remove the domain a deploy defined, and delete
//! the volumes it uploaded (unless `--keep-storage`).

use maqet_plugin_api::{Host, Request};
use serde_json::{Value, json};

use crate::connect::{self, failed, is_missing};
use crate::deploy::delete_volume;
use crate::error::DeployError;
use crate::metadata::deployed_volumes;

/// `VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | SNAPSHOTS_METADATA | NVRAM`: nothing of the domain stays.
pub const UNDEFINE_FLAGS: u32 = 1 | 2 | 4;
/// `VIR_DOMAIN_XML_INACTIVE`.
const XML_INACTIVE: u32 = 2;

/// Remove a deployed VM and its volumes from a libvirt host
#[derive(Debug, Clone, Request)]
#[request(
    name = "undeploy",
    example = "maqet undeploy web --connect qemu:///system"
)]
pub struct UndeployRequest {
    /// The deployed VM
    #[param(positional)]
    pub vm: String,
    /// libvirt URI: qemu:///system, qemu+ssh://user@host/system, ...
    pub connect: String,
    /// Domain name on the libvirt host (default: the VM's name)
    pub name: Option<String>,
    /// Keep the uploaded volumes
    pub keep_storage: bool,
}

/// Runs `undeploy`.
pub fn undeploy(request: &UndeployRequest, host: &Host) -> Result<Value, DeployError> {
    let vm = request.vm.as_str();
    let uri = request.connect.as_str();
    let keep_storage = request.keep_storage;
    // The VM may be gone from maqet already: then its name is the domain's.
    let vm_id = host
        .vm_info(vm)
        .ok()
        .and_then(|info| info["vm_id"].as_str().map(str::to_owned));
    let name = request.name.clone().unwrap_or_else(|| vm.to_owned());

    let conn = connect::open(uri)?;
    let by_name = match conn.lookup_domain_by_name(&name) {
        Ok(domain) => Some(domain),
        Err(e) if is_missing(&e) => None,
        Err(e) => return Err(failed(uri, format!("look up domain `{name}`"))(e)),
    };
    let domain = match (by_name, &vm_id) {
        (Some(domain), _) => domain,
        (None, Some(id)) => {
            conn.lookup_domain_by_uuid_string(id)
                .map_err(|_| DeployError::NotDeployed {
                    vm: vm.to_owned(),
                    uri: uri.to_owned(),
                    name: name.clone(),
                })?
        }
        (None, None) => {
            return Err(DeployError::NotDeployed {
                vm: vm.to_owned(),
                uri: uri.to_owned(),
                name,
            });
        }
    };
    let name = domain.name().map_err(failed(uri, "read a domain's name"))?;
    let xml = domain.xml_desc(XML_INACTIVE).map_err(failed(
        uri,
        format!("read the definition of domain `{name}`"),
    ))?;
    let volumes = deployed_volumes(&xml);
    if domain
        .is_active()
        .map_err(failed(uri, format!("read the state of domain `{name}`")))?
    {
        domain
            .destroy()
            .map_err(failed(uri, format!("stop domain `{name}`")))?;
    }
    domain
        .undefine_flags(UNDEFINE_FLAGS)
        .map_err(failed(uri, format!("undefine domain `{name}`")))?;
    let mut deleted = Vec::new();
    if !keep_storage {
        for (pool, volume) in &volumes {
            delete_volume(&conn, pool, volume).map_err(failed(
                uri,
                format!("delete volume `{volume}` of pool `{pool}`"),
            ))?;
            deleted.push(volume.clone());
        }
    }
    Ok(json!({
        "vm": vm,
        "domain": name,
        "uri": uri,
        "deleted_volumes": deleted,
        "kept_volumes": if keep_storage { volumes.iter().map(|(_, v)| v.clone()).collect() } else { Vec::new() },
    }))
}
