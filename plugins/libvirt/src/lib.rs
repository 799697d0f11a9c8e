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
    CommandFailure, CommandSpec, Host, ParamKind, ParamSpec, Plugin, error_with_kind, export_plugin,
};
use serde_json::Value;

pub use deploy::{DeployRequest, parse_size};
pub use error::DeployError;
pub use metadata::deployed_volumes;

/// The plugin: `deploy` and `undeploy`.
pub struct Libvirt;

fn connect_param() -> ParamSpec {
    ParamSpec::flag(
        "connect",
        ParamKind::String,
        "libvirt URI: qemu:///system, qemu+ssh://user@host/system, ...",
    )
    .required()
}

impl Plugin for Libvirt {
    fn name(&self) -> &str {
        "libvirt"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![
            CommandSpec::new(
                "deploy",
                "Define a VM on a libvirt host, with its disks uploaded into a storage pool there",
            )
            .param(ParamSpec::positional(
                "vm",
                ParamKind::String,
                "The VM to deploy",
            ))
            .param(connect_param())
            .param(ParamSpec::flag(
                "start",
                ParamKind::Bool,
                "Start the domain once defined",
            ))
            .param(ParamSpec::flag(
                "pool",
                ParamKind::String,
                "Storage pool for the uploaded disks (default: `default`, created as \
                 virt-install does when the host has none)",
            ))
            .param(ParamSpec::flag(
                "name",
                ParamKind::String,
                "Domain name on the libvirt host (default: the VM's name)",
            ))
            .param(ParamSpec::flag(
                "restart",
                ParamKind::Bool,
                "When the domain runs: stop it (virsh destroy), update it, start it again",
            ))
            .example("maqet deploy web --connect qemu:///system --start")
            .example("maqet deploy web --connect qemu+ssh://root@host2/system --pool vms --start"),
            CommandSpec::new(
                "undeploy",
                "Remove a deployed VM and its volumes from a libvirt host",
            )
            .param(ParamSpec::positional(
                "vm",
                ParamKind::String,
                "The deployed VM",
            ))
            .param(connect_param())
            .param(ParamSpec::flag(
                "name",
                ParamKind::String,
                "Domain name on the libvirt host (default: the VM's name)",
            ))
            .param(ParamSpec::flag(
                "keep_storage",
                ParamKind::Bool,
                "Keep the uploaded volumes",
            ))
            .example("maqet undeploy web --connect qemu:///system"),
        ]
    }

    fn invoke(&self, command: &str, args: Value, host: &Host) -> Result<Value, CommandFailure> {
        let result = match command {
            "deploy" => DeployRequest::from_args(&args).and_then(|r| deploy::deploy(&r, host)),
            _ => undeploy::undeploy(&args, host),
        };
        result.map_err(|e| error_with_kind(e.kind(), &e))
    }
}

export_plugin!(Libvirt);
