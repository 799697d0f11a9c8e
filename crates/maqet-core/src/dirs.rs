//! Where maqet keeps its files: the data, config and runtime directories and the paths in them.
//!
//! The directories come from explicit overrides, then `maqet.conf` ([`crate::settings`]), then
//! the XDG defaults.

use std::path::{Path, PathBuf};

use crate::MaqetError;
use crate::settings::Settings;

/// The three directories maqet uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dirs {
    /// Persistent data: the state database, VM disks and logs (`~/.local/share/maqet`).
    pub data: PathBuf,
    /// User configuration (`~/.config/maqet`).
    pub config: PathBuf,
    /// Sockets and locks of running VMs (`$XDG_RUNTIME_DIR/maqet`, else `/tmp/maqet-<uid>`).
    pub runtime: PathBuf,
}

/// Explicit directory choices (builder or command-line flags); unset ones fall back to
/// `maqet.conf`, then to the XDG defaults.
#[derive(Debug, Clone, Default)]
pub struct DirOverrides {
    /// Data directory.
    pub data: Option<PathBuf>,
    /// Config directory.
    pub config: Option<PathBuf>,
    /// Runtime directory.
    pub runtime: Option<PathBuf>,
}

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn home() -> PathBuf {
    env_dir("HOME").unwrap_or_else(|| PathBuf::from("/"))
}

/// The current user's id.
pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

impl Dirs {
    /// The XDG defaults.
    pub fn defaults() -> Dirs {
        Dirs {
            data: env_dir("XDG_DATA_HOME")
                .unwrap_or_else(|| home().join(".local/share"))
                .join("maqet"),
            config: env_dir("XDG_CONFIG_HOME")
                .unwrap_or_else(|| home().join(".config"))
                .join("maqet"),
            runtime: env_dir("XDG_RUNTIME_DIR")
                .map(|d| d.join("maqet"))
                .unwrap_or_else(|| PathBuf::from(format!("/tmp/maqet-{}", current_uid()))),
        }
    }

    /// Resolves the directories: explicit overrides, then `maqet.conf`, then defaults.
    pub fn resolve(overrides: &DirOverrides, settings: &Settings) -> Dirs {
        let defaults = Dirs::defaults();
        let pick = |explicit: &Option<PathBuf>, conf: &Option<PathBuf>, default: PathBuf| {
            explicit
                .as_ref()
                .map(|p| crate::config::absolute(p))
                .or_else(|| conf.clone())
                .unwrap_or(default)
        };
        Dirs {
            data: pick(&overrides.data, &settings.data_dir, defaults.data),
            config: pick(&overrides.config, &settings.config_dir, defaults.config),
            runtime: pick(&overrides.runtime, &settings.runtime_dir, defaults.runtime),
        }
    }

    /// The state database file.
    pub fn state_db(&self) -> PathBuf {
        self.data.join("maqet.db")
    }

    /// A VM's data directory (disks, logs, its record file `vm.json`): `<data>/vms/<id>`.
    ///
    /// Keyed by the VM's id, never its name, so a new VM that reuses a removed VM's name never
    /// sees the old one's files. (Data directories of VMs made by older maqet versions were
    /// named after the VM; `<data>/vms/<id>` is then a symbolic link to that directory.)
    pub fn vm_data_dir(&self, vm_id: &str) -> PathBuf {
        self.data.join("vms").join(vm_id)
    }

    /// Where older maqet versions kept a VM's data: `<data>/vms/<name>`.
    pub fn legacy_vm_data_dir(&self, vm_name: &str) -> PathBuf {
        self.data.join("vms").join(vm_name)
    }

    /// A VM's runtime directory (sockets, lock): `<runtime>/vms/<id>`.
    pub fn vm_runtime_dir(&self, vm_id: &str) -> PathBuf {
        self.runtime.join("vms").join(vm_id)
    }

    /// Where plugins are looked for by default.
    pub fn plugin_dir(&self) -> PathBuf {
        self.data.join("plugins")
    }
}

/// Creates a directory (and parents) private to the user (mode 0700).
pub fn create_private_dir(path: &Path) -> Result<(), MaqetError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| MaqetError::io(format!("cannot create directory {}", path.display()), e))?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
    Ok(())
}
