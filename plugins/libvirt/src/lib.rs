//! maqet plugin `libvirt`: `maqet deploy` and `maqet undeploy`.
//!
//! `maqet deploy VM --connect URI [--start] [--pool NAME] [--name NAME] [--restart]` renders the
//! VM as a libvirt domain (with `maqet-export-render`, as `maqet export` does, for the host's
//! libvirt version), uploads its disks (qcow2 overlays flattened) and boot files into a storage
//! pool on the libvirt host through libvirt's stream API (creating the `default` pool when a
//! new host has none), defines the domain with the uploaded volumes in place of the local
//! paths, and starts it if asked.
//! `maqet undeploy VM --connect URI [--keep-storage]` removes it again.
//!
//! This is the only part of maqet that links the libvirt C library (through the `virt` crate).

mod connect;
mod deploy;
mod error;
mod flatten;
mod metadata;
mod pool;
mod undeploy;
mod upload;

use maqet_plugin_api::{
    CommandFailure, CommandSpec, Host, Plugin, Request, error_with_kind, export_plugin,
};
use serde_json::Value;

pub use deploy::{DeployRequest, parse_size};
pub use error::DeployError;
pub use metadata::deployed_volumes;
pub use undeploy::UndeployRequest;

/// The plugin: `deploy` and `undeploy`.
pub struct Libvirt;

impl Plugin for Libvirt {
    fn name(&self) -> &str {
        "libvirt"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![DeployRequest::spec(), UndeployRequest::spec()]
    }

    fn invoke(&self, command: &str, args: Value, host: &Host) -> Result<Value, CommandFailure> {
        let result = match command {
            "deploy" => deploy::deploy(&DeployRequest::from_args(args)?, host),
            _ => undeploy::undeploy(&UndeployRequest::from_args(args)?, host),
        };
        result.map_err(|e| error_with_kind(e.kind(), &e))
    }
}

export_plugin!(Libvirt);
