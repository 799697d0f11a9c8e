//! At start: the seed written, the SSH port chosen, and both put on the QEMU command line.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;

use maqet_seed::cloud_config::{self, Identity};
use maqet_seed::iso::{SeedFiles, build_seed_iso};
use maqet_state::VmRecord;
use serde_json::{Value, json};

use super::keys::{KeyPair, maqet_key, user_keys};
use super::{IdentityFiles, SEED_DRIVE_NAME, SshEndpoint, enabled, new_instance_id};
use crate::{ErrorKind, Maqet, MaqetError};
use maqet_config::VmConfig;

impl Maqet {
    /// The first-boot identity files of a VM.
    pub(crate) fn identity_files(&self, vm: &VmRecord) -> IdentityFiles {
        IdentityFiles::new(&self.dirs().vm_data_dir(&vm.id))
    }

    /// The SSH endpoint of the VM's last start, for `status`.
    pub(crate) fn ssh_summary(&self, vm: &VmRecord) -> Option<crate::results::SshSummary> {
        if !enabled(&vm.config) {
            return None;
        }
        let endpoint = self.identity_files(vm).read_endpoint()?;
        Some(crate::results::SshSummary {
            host: endpoint.host,
            port: endpoint.port,
            user: endpoint.user,
        })
    }

    /// Writes the VM's seed and chooses its SSH port, when first-boot identity is on; the
    /// caller holds the VM lock and QEMU is not running.
    pub(crate) fn prepare_first_boot(
        &self,
        vm: &VmRecord,
    ) -> Result<Option<SshEndpoint>, MaqetError> {
        let config = VmConfig::from_value(&vm.config);
        if !config.first_boot_identity() {
            return Ok(None);
        }
        if config.storage.iter().any(|d| d.name == "cidata") {
            return Err(MaqetError::invalid(format!(
                "VM `{}` has both first-boot identity and a `cidata` drive (from `maqet cloud-init`); cloud-init would read only one of them. Remove the drive (`maqet storage` / edit the config) or set `cloud_init: false`",
                vm.name
            )));
        }
        let files = self.identity_files(vm);
        crate::dirs::create_private_dir(&self.dirs().vm_data_dir(&vm.id))?;
        crate::dirs::create_private_dir(&files.dir)?;

        let user = match &config.user {
            Some(user) => user.clone(),
            None => default_user()?,
        };
        let hostname = match &config.hostname {
            Some(name) => name.clone(),
            None => cloud_config::hostname_from_vm_name(&vm.name).ok_or_else(|| {
                MaqetError::invalid(format!(
                    "VM name `{}` does not make a valid host name; set `hostname` in its config",
                    vm.name
                ))
            })?,
        };
        let own = maqet_key(&self.dirs().data)?;
        let chosen: Vec<KeyPair> = match &config.ssh_authorized_keys {
            Some(lines) => lines
                .iter()
                .map(|line| KeyPair {
                    public: line.clone(),
                    private: None,
                })
                .collect(),
            None => std::env::var_os("HOME")
                .map(|home| user_keys(Path::new(&home)))
                .unwrap_or_default(),
        };
        let mut keys = vec![own];
        for pair in chosen {
            if !keys.iter().any(|k| k.public == pair.public) {
                keys.push(pair);
            }
        }
        let identity = Identity {
            user: user.clone(),
            ssh_authorized_keys: keys.iter().map(|k| k.public.clone()).collect(),
            hostname: hostname.clone(),
        };
        let user_data = cloud_config::user_data(
            &identity,
            config.user_data.as_ref().map(|d| d.to_value()).as_ref(),
        );
        let network_config = config
            .network_config
            .as_ref()
            .map(|d| cloud_config::network_config(&d.to_value()));

        // A changed user-data makes a new instance: cloud-init applies it only to a new one.
        let previous = std::fs::read(files.user_data()).ok();
        let mut instance_id = std::fs::read_to_string(files.instance_id())
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let changed = previous
            .as_deref()
            .is_some_and(|p| p != user_data.as_slice());
        if instance_id.is_none() || changed {
            if changed {
                self.progress("first-boot identity changed: the guest becomes a new cloud-init instance (new SSH host keys)");
            }
            super::forget_instance(&self.dirs().vm_data_dir(&vm.id))
                .map_err(|e| MaqetError::io("cannot reset the VM's cloud-init instance", e))?;
            let id = new_instance_id();
            write(&files.instance_id(), format!("{id}\n").as_bytes())?;
            instance_id = Some(id);
        }
        let instance_id = instance_id.unwrap_or_else(new_instance_id);
        let iso = build_seed_iso(SeedFiles {
            user_data: user_data.clone(),
            meta_data: cloud_config::meta_data(&instance_id, &hostname),
            network_config,
        })
        .map_err(|e| MaqetError::with_source(ErrorKind::Failure, "cannot build the seed", e))?;
        write(&files.seed_iso(), &iso)?;
        write(&files.user_data(), &user_data)?;

        let (host, port) = match guest_ssh_forward(&config) {
            Some(forward) => forward,
            None => {
                let stored = files.read_endpoint().map(|e| e.port);
                (Ipv4Addr::LOCALHOST.to_string(), free_port(stored)?)
            }
        };
        let endpoint = SshEndpoint {
            host,
            port,
            user,
            identity_files: keys.into_iter().filter_map(|k| k.private).collect(),
            host_key_alias: format!("maqet-{}", vm.id),
        };
        let text = serde_json::to_vec_pretty(&endpoint).unwrap_or_default();
        write(&files.ssh_endpoint(), &text)?;
        Ok(Some(endpoint))
    }

    /// The config QEMU's command line is rendered from: with first-boot identity on, the seed
    /// drive and the SSH forward (of the last start) added.
    pub(crate) fn config_with_first_boot(&self, vm: &VmRecord) -> Value {
        let typed = VmConfig::from_value(&vm.config);
        let mut config = vm.config.clone();
        if !typed.first_boot_identity() {
            return config;
        }
        let files = self.identity_files(vm);
        let seed = files.seed_iso().to_string_lossy().into_owned();
        let bus = maqet_seed::attach::seed_bus(typed.machine.as_deref());
        let entry = maqet_seed::attach::storage_entry(SEED_DRIVE_NAME, &seed, bus);
        let Some(map) = config.as_object_mut() else {
            return config;
        };
        match map.get_mut("storage") {
            Some(Value::Array(drives)) => drives.push(entry),
            _ => {
                map.insert("storage".into(), json!([entry]));
            }
        }
        if guest_ssh_forward(&typed).is_none()
            && let Some(endpoint) = files.read_endpoint()
        {
            let forward = json!({"host": endpoint.port, "guest": 22});
            match map.get_mut("ports") {
                Some(Value::Array(ports)) => ports.push(forward),
                _ => {
                    map.insert("ports".into(), json!([forward]));
                }
            }
        }
        config
    }
}

/// A `ports` entry the config already has for guest TCP port 22: its host address and port.
fn guest_ssh_forward(config: &VmConfig) -> Option<(String, u16)> {
    let forward = config
        .ports
        .iter()
        .find(|f| f.guest == 22 && f.proto == "tcp")?;
    let host = if forward.host_addr.is_unspecified() {
        Ipv4Addr::LOCALHOST
    } else {
        forward.host_addr
    };
    Some((host.to_string(), forward.host))
}

/// The port of the last start when it is free, else one the kernel picks on 127.0.0.1.
fn free_port(stored: Option<u16>) -> Result<u16, MaqetError> {
    if let Some(port) = stored
        && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
    {
        return Ok(port);
    }
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| MaqetError::io("cannot find a free TCP port on 127.0.0.1 for SSH", e))
}

/// The user made when root runs maqet: cloud-init should not take over the guest's root.
const ROOT_INVOKER_USER: &str = "maqet";

/// The invoking user's name (`USER`, else `LOGNAME`, else the `/etc/passwd` entry of this
/// process's user) when it is a valid guest user name; [`ROOT_INVOKER_USER`] for root.
fn default_user() -> Result<String, MaqetError> {
    if crate::dirs::current_uid() == 0 {
        return Ok(ROOT_INVOKER_USER.to_owned());
    }
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(passwd_name)
        .unwrap_or_default();
    cloud_config::check_user_name(&name).map_err(|reason| {
        MaqetError::invalid(format!(
            "first-boot identity needs a guest user name, and your user name cannot be one ({reason}); set `user` in the VM's config"
        ))
    })?;
    Ok(name)
}

/// The name `/etc/passwd` gives this process's user id.
fn passwd_name() -> Option<String> {
    let uid = crate::dirs::current_uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), MaqetError> {
    maqet_seed::write::write_atomically(path, bytes)
        .map_err(|e| MaqetError::io(format!("cannot write {}", path.display()), e))
}
