//! maqet plugin `cloud-init`: builds a cloud-init NoCloud seed ISO for a VM and attaches it.
//!
//! `maqet cloud-init VM --user-data FILE [--meta-data FILE] [--network-config FILE]` writes
//! `<data_dir>/cidata.iso` (volume `cidata`, files `user-data`, `meta-data`, `network-config`)
//! and adds it to the VM's config as a read-only drive named `cidata` through maqet's `apply`;
//! running it again replaces the drive. The seed is built, and its bus chosen, by the
//! `maqet-seed` library that maqet's built-in first-boot identity uses too: a virtio disk, or an
//! IDE cdrom on a machine without PCI (never SATA, which cloud kernels cannot read).
//!
//! ```
//! use maqet_cloud_init::seed::{SeedFiles, build_seed_iso, default_meta_data};
//!
//! let iso = build_seed_iso(SeedFiles {
//!     user_data: b"#cloud-config\n".to_vec(),
//!     meta_data: default_meta_data("web"),
//!     network_config: None,
//! })?;
//! assert_eq!(&iso[16 * 2048 + 1..16 * 2048 + 6], b"CD001");
//! # Ok::<(), maqet_seed::SeedError>(())
//! ```

mod error;
pub mod input;
/// The seed ISO, from the shared `maqet-seed` library.
pub use maqet_seed::iso as seed;

use std::path::{Path, PathBuf};

use maqet_plugin_api::{
    CommandFailure, CommandSpec, ErrorKind, Host, LogLevel, Plugin, Request, error_with_kind,
    export_plugin,
};
use serde_json::{Value, json};

pub use error::{CloudInitError, HostMessage};
use maqet_seed::attach::{seed_bus, storage_entry};
use seed::{SeedFiles, build_seed_iso, default_meta_data};

/// The plugin: one command, `cloud-init`.
pub struct CloudInit;

/// The file name of the seed in the VM's data directory.
pub const ISO_FILE_NAME: &str = "cidata.iso";

impl Plugin for CloudInit {
    fn name(&self) -> &str {
        "cloud-init"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn commands(&self) -> Vec<CommandSpec> {
        vec![CloudInitRequest::spec()]
    }

    fn invoke(&self, _command: &str, args: Value, host: &Host) -> Result<Value, CommandFailure> {
        let request = CloudInitRequest::from_args(args)?;
        attach_seed(&request, host).map_err(|e| error_with_kind(ErrorKind::Failure, &e))
    }
}

export_plugin!(CloudInit);

/// Attach a cloud-init NoCloud seed ISO to a VM
#[derive(Debug, Request)]
#[request(
    name = "cloud-init",
    category = "Storage",
    example = "maqet cloud-init web --user-data user-data.yaml",
    example = "maqet cloud-init web --user-data u.yaml --network-config net.yaml"
)]
pub struct CloudInitRequest {
    /// The VM to configure
    #[param(positional)]
    pub vm: String,
    /// The user-data file
    pub user_data: PathBuf,
    /// The meta-data file (default: instance-id and local-hostname = VM name)
    pub meta_data: Option<PathBuf>,
    /// A network-config file (netplan v2 or v1)
    pub network_config: Option<PathBuf>,
}

fn attach_seed(request: &CloudInitRequest, host: &Host) -> Result<Value, CloudInitError> {
    let vm = request.vm.as_str();
    // The VM first: nothing is read or written for a VM that does not exist or is running.
    let info = host.vm_info(vm).map_err(|message| CloudInitError::Host {
        command: "info",
        vm: vm.to_owned(),
        source: HostMessage(message),
    })?;
    let status = host
        .call("status", json!({ "vm": vm }))
        .map_err(|message| CloudInitError::Host {
            command: "status",
            vm: vm.to_owned(),
            source: HostMessage(message),
        })?;
    if status["is_running"] == Value::Bool(true) {
        return Err(CloudInitError::Running { vm: vm.to_owned() });
    }
    let data_dir = info["data_dir"]
        .as_str()
        .ok_or_else(|| CloudInitError::NoDataDir { vm: vm.to_owned() })?;
    let machine = info["config_data"]["machine"].as_str();

    let meta_data = match &request.meta_data {
        Some(path) => read_input("meta-data", path)?,
        None => default_meta_data(vm),
    };
    let network_config = request
        .network_config
        .as_deref()
        .map(|path| read_input("network-config", path))
        .transpose()?;
    let files = SeedFiles {
        user_data: read_input("user-data", &request.user_data)?,
        meta_data,
        network_config,
    };

    let iso_path = absolute(&Path::new(data_dir).join(ISO_FILE_NAME));
    if let Some(parent) = iso_path.parent() {
        // The VM's data directory exists once it has started; create it for a VM that has not.
        let _ = std::fs::create_dir_all(parent);
    }
    let iso = build_seed_iso(files).map_err(|source| CloudInitError::BuildIso { source })?;
    write_atomically(&iso_path, &iso)?;
    host.log(LogLevel::Info, &format!("wrote {}", iso_path.display()));

    let iso = iso_path.display().to_string();
    host.call("apply", apply_args(vm, &iso, machine))
        .map_err(|message| CloudInitError::Host {
            command: "apply",
            vm: vm.to_owned(),
            source: HostMessage(message),
        })?;
    Ok(json!({ "iso": iso, "vm": vm, "drive": "cidata" }))
}

/// The `apply` arguments that add (or replace) the read-only `cidata` drive, on the bus
/// `machine` (the VM's `machine` key) lets the guest's kernel find it on.
pub fn apply_args(vm: &str, iso: &str, machine: Option<&str>) -> Value {
    json!({
        "vm": vm,
        "set": { "storage": [storage_entry("cidata", iso, seed_bus(machine))]},
    })
}

fn read_input(what: &'static str, path: &Path) -> Result<Vec<u8>, CloudInitError> {
    input::read_input_file(path).map_err(|source| CloudInitError::ReadInput {
        what,
        path: path.to_owned(),
        source,
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Writes the ISO through [`maqet_seed::write::write_atomically`].
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CloudInitError> {
    maqet_seed::write::write_atomically(path, bytes).map_err(|source| CloudInitError::WriteIso {
        path: path.to_owned(),
        source,
    })
}
