//! Where maqet keeps its files, and `maqet.conf`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::yaml;
use crate::{ErrorKind, MaqetError};

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

/// Settings read from `maqet.conf`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The file they came from.
    pub file: Option<PathBuf>,
    /// `directories.data_dir`.
    pub data_dir: Option<PathBuf>,
    /// `directories.config_dir`.
    pub config_dir: Option<PathBuf>,
    /// `directories.runtime_dir`.
    pub runtime_dir: Option<PathBuf>,
    /// `logging.verbosity`.
    pub verbosity: Option<u8>,
    /// `logging.log_file`.
    pub log_file: Option<PathBuf>,
    /// `commands.<command>.<option>`: defaults for command options, keyed by command path
    /// (`stop`, `qmp keys`) then option name (kebab-case).
    pub command_defaults: BTreeMap<String, BTreeMap<String, String>>,
}

impl Settings {
    /// Finds and reads `maqet.conf`: `$MAQET_CONFIG`, `./maqet.conf`,
    /// `<config dir>/maqet.conf`, `/etc/maqet/maqet.conf`; the first that exists wins.
    pub fn discover(config_dir: Option<&Path>) -> Result<Settings, MaqetError> {
        if let Some(explicit) = std::env::var_os("MAQET_CONFIG").filter(|v| !v.is_empty()) {
            let path = PathBuf::from(explicit);
            if path.symlink_metadata().is_err() {
                return Err(MaqetError::new(
                    ErrorKind::NotFound,
                    format!(
                        "MAQET_CONFIG names {}, which does not exist; fix or unset the variable",
                        path.display()
                    ),
                ));
            }
            return Settings::read(&path);
        }
        let config_dir = config_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| Dirs::defaults().config);
        let candidates = [
            PathBuf::from("maqet.conf"),
            config_dir.join("maqet.conf"),
            PathBuf::from("/etc/maqet/maqet.conf"),
        ];
        match candidates.iter().find(|p| p.is_file()) {
            Some(path) => Settings::read(path),
            None => Ok(Settings::default()),
        }
    }

    /// Reads one `maqet.conf` file (YAML). It must be owned by you or root and writable by
    /// nobody else (see [`crate::trust`]): it names the directories and defaults maqet uses.
    pub fn read(path: &Path) -> Result<Settings, MaqetError> {
        crate::trust::check_trusted(path).map_err(|reason| {
            MaqetError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "refusing {}: {reason}; another user could change maqet's settings through it",
                    path.display()
                ),
            )
        })?;
        let doc = yaml::read_file(path)?;
        let base = crate::config::absolute(path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let dir = |section: &str, key: &str| {
            doc.value
                .get(section)
                .and_then(|s| s.get(key))
                .and_then(Value::as_str)
                .map(|p| PathBuf::from(crate::config::resolve_path(p, &base)))
        };
        let mut settings = Settings {
            file: Some(path.to_path_buf()),
            data_dir: dir("directories", "data_dir"),
            config_dir: dir("directories", "config_dir"),
            runtime_dir: dir("directories", "runtime_dir"),
            verbosity: doc
                .value
                .pointer("/logging/verbosity")
                .and_then(Value::as_u64)
                .map(|v| v.min(3) as u8),
            log_file: dir("logging", "log_file"),
            command_defaults: BTreeMap::new(),
        };
        if let Some(Value::Object(commands)) = doc.value.get("commands") {
            for (command, options) in commands {
                let Value::Object(options) = options else {
                    continue;
                };
                let entry = settings
                    .command_defaults
                    .entry(command.replace('.', " "))
                    .or_default();
                for (option, value) in options {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    entry.insert(option.replace('_', "-"), text);
                }
            }
        }
        Ok(settings)
    }

    /// The configured default for a command option, if any.
    pub fn command_default(&self, command: &str, option: &str) -> Option<&str> {
        self.command_defaults
            .get(command)
            .and_then(|opts| opts.get(option))
            .map(String::as_str)
    }
}
