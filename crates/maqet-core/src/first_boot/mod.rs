//! First-boot identity: a user, its SSH keys and a host name given to the guest by a
//! cloud-init NoCloud seed that maqet writes at every start, and the SSH endpoint that follows.
//!
//! It is on when the config sets `cloud_init: true`, or sets any of the identity keys (see
//! [`VmConfig::first_boot_identity`](maqet_config::VmConfig::first_boot_identity)) without
//! `cloud_init: false`. The VM's data directory then holds `cloud-init/`:
//!
//! - `seed.iso` — the seed (volume `cidata`), rewritten by rename at each start and attached
//!   read-only on the bus [`maqet_seed::attach::seed_bus`] picks (virtio, never AHCI);
//! - `instance-id` — stable, so cloud-init's once-per-instance steps run once; a new one is
//!   made when the generated `user-data` changes, or by [`forget_instance`] (clones);
//! - `user-data` — the last `user-data` written, to notice that change;
//! - `ssh.json` — the host port forwarded to guest port 22, the user and the key files
//!   ([`SshEndpoint`]);
//! - `known_hosts` — the guest's host keys, once read from its console or its agent.

mod keys;
mod prepare;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use keys::maqet_key_path;

/// Name of the seed drive maqet adds to the QEMU command line.
pub const SEED_DRIVE_NAME: &str = "maqet-cidata";

/// Whether a config document has first-boot identity on
/// ([`VmConfig::first_boot_identity`](maqet_config::VmConfig::first_boot_identity)).
pub fn enabled(config: &Value) -> bool {
    maqet_config::VmConfig::from_value(config).first_boot_identity()
}

/// The files of a VM's first-boot identity, under its data directory.
#[derive(Debug, Clone)]
pub struct IdentityFiles {
    /// `<vm data dir>/cloud-init`.
    pub dir: PathBuf,
}

impl IdentityFiles {
    /// The files for the VM whose data directory is `vm_data_dir`.
    pub fn new(vm_data_dir: &Path) -> IdentityFiles {
        IdentityFiles {
            dir: vm_data_dir.join("cloud-init"),
        }
    }

    /// The seed ISO.
    pub fn seed_iso(&self) -> PathBuf {
        self.dir.join("seed.iso")
    }

    /// The stored instance id.
    pub fn instance_id(&self) -> PathBuf {
        self.dir.join("instance-id")
    }

    /// The last `user-data` written.
    pub fn user_data(&self) -> PathBuf {
        self.dir.join("user-data")
    }

    /// The SSH endpoint ([`SshEndpoint`]).
    pub fn ssh_endpoint(&self) -> PathBuf {
        self.dir.join("ssh.json")
    }

    /// The guest's host keys.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// Reads the SSH endpoint written at the last start, if any.
    pub fn read_endpoint(&self) -> Option<SshEndpoint> {
        let text = std::fs::read(self.ssh_endpoint()).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Whether the guest's host keys are known.
    pub fn host_keys_known(&self) -> bool {
        std::fs::metadata(self.known_hosts()).is_ok_and(|m| m.len() > 0)
    }
}

/// How to reach a VM's SSH server, written at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshEndpoint {
    /// The host address (127.0.0.1, or a `ports` forward's `host_addr`).
    pub host: String,
    /// The host port forwarded to guest port 22.
    pub port: u16,
    /// The guest user.
    pub user: String,
    /// Private keys to offer (maqet's own first).
    pub identity_files: Vec<PathBuf>,
    /// The name the guest's host keys are filed under in `known_hosts` (`HostKeyAlias`).
    pub host_key_alias: String,
}

/// Makes the VM a new cloud-init instance at its next start: a new instance id (cloud-init
/// then runs its once-per-instance steps again and makes new SSH host keys), and the old host
/// keys and SSH port forgotten. For a clone, whose data directory was copied from another VM.
pub fn forget_instance(vm_data_dir: &Path) -> std::io::Result<()> {
    let files = IdentityFiles::new(vm_data_dir);
    for file in [
        files.instance_id(),
        files.known_hosts(),
        files.ssh_endpoint(),
    ] {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A new instance id: `maqet-` and 32 random hex digits.
fn new_instance_id() -> String {
    format!("maqet-{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_is_on_only_when_asked_for() {
        assert!(!enabled(&json!({"memory": "1G", "guest_agent": true})));
        assert!(enabled(&json!({"cloud_init": true})));
        assert!(enabled(&json!({"user": "alice"})));
        assert!(enabled(&json!({"network_config": {"version": 2}})));
        assert!(!enabled(&json!({"user": "alice", "cloud_init": false})));
    }

    #[test]
    fn forgetting_an_instance_removes_its_id_keys_and_port() {
        let dir = tempfile::tempdir().unwrap();
        let files = IdentityFiles::new(dir.path());
        std::fs::create_dir_all(&files.dir).unwrap();
        for f in [
            files.instance_id(),
            files.known_hosts(),
            files.ssh_endpoint(),
        ] {
            std::fs::write(f, "x").unwrap();
        }
        std::fs::write(files.seed_iso(), "iso").unwrap();
        forget_instance(dir.path()).unwrap();
        assert!(!files.instance_id().exists() && !files.known_hosts().exists());
        assert!(!files.ssh_endpoint().exists());
        // Forgetting twice is fine.
        forget_instance(dir.path()).unwrap();
    }
}
