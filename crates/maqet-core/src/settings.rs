//! `maqet.conf`: finding it, checking that only you (or root) can change it, and reading its
//! directories, logging settings and per-command option defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::MaqetError;
use crate::config::yaml;
use crate::dirs::Dirs;

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
                return Err(MaqetError::SettingsMissing { path });
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
        crate::trust::check_trusted(path).map_err(|reason| MaqetError::UntrustedSettings {
            path: path.to_path_buf(),
            reason,
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
