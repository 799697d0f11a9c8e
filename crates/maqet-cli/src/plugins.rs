//! Plugin commands: loading plugin libraries and running their commands.

use std::path::PathBuf;

use maqet_core::dirs::Dirs;
use maqet_core::registry::{self, Output};
use maqet_core::{ErrorKind, Maqet, MaqetError};
use maqet_plugin_api::host::{
    self, HostServices, LoadedPlugin, LogLevel, PluginFile, RejectedPlugin,
};
use serde::Serialize;
use serde_json::Value;

use crate::commands::{CommandDef, Origin};

/// The plugins found for this run.
#[derive(Default)]
pub struct PluginSet {
    loaded: Vec<LoadedPlugin>,
    rejected: Vec<RejectedPlugin>,
}

/// Plugin directories in search order: `<data>/plugins`, `$MAQET_PLUGIN_PATH`, `--plugin-dir`.
fn plugin_dirs(dirs: &Dirs, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = vec![dirs.plugin_dir()];
    if let Some(path) = std::env::var_os("MAQET_PLUGIN_PATH") {
        out.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
    }
    out.extend(extra.iter().cloned());
    out
}

/// Environment variable that, set to `0`, `off` or `no`, turns off the plugins shipped next
/// to the `maqet` binary (the test suite does, so its output does not depend on what else
/// was built).
pub const SHIPPED_PLUGINS_ENV: &str = "MAQET_SHIPPED_PLUGINS";

/// Where the shipped plugins are looked for, after the user's directories (none when turned
/// off with [`SHIPPED_PLUGINS_ENV`]).
fn shipped_plugin_dirs() -> Vec<PathBuf> {
    let off = std::env::var(SHIPPED_PLUGINS_ENV)
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "off" | "no"));
    if off {
        return Vec::new();
    }
    // `/proc/self/exe`: the binary really running, whatever PATH or argv[0] said.
    std::env::current_exe()
        .map(|exe| host::shipped_dirs(&exe))
        .unwrap_or_default()
}

impl PluginSet {
    /// Loads plugins; files that are not usable plugins are kept as rejections.
    pub fn load(dirs: &Dirs, extra: &[PathBuf]) -> PluginSet {
        let search = plugin_dirs(dirs, extra);
        let shipped = shipped_plugin_dirs();
        if !search.iter().chain(&shipped).any(|d| d.is_dir()) {
            return PluginSet::default();
        }
        let mut loaded = Vec::new();
        let mut rejected = Vec::new();
        let trusted = |path: &std::path::Path| {
            maqet_core::trust::check_trusted(path)
                .map_err(|why| format!("{why}, so another user could run code as you through it"))
        };
        for file in host::discover(&search, &trusted) {
            match file {
                PluginFile::Loaded(p) => loaded.push(p),
                PluginFile::Rejected(r) => rejected.push(r),
            }
        }
        // A shipped plugin the user installed a copy of (same file name, or same plugin name)
        // is the user's: the shipped one is left out, without a clash warning.
        let user_files: Vec<std::ffi::OsString> = loaded
            .iter()
            .filter_map(|p| p.path().file_name().map(ToOwned::to_owned))
            .collect();
        let already = |name: &str| user_files.iter().any(|f| f == name);
        for file in host::discover_shipped(&shipped, &already, &trusted) {
            match file {
                PluginFile::Loaded(p) if loaded.iter().any(|l| l.name() == p.name()) => {}
                PluginFile::Loaded(p) => loaded.push(p),
                PluginFile::Rejected(r) => rejected.push(r),
            }
        }
        let mut builtin: Vec<String> = registry::top_level_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        builtin.extend(registry::methods().into_iter().map(|m| m.path()));
        for def in crate::cli_commands::cli_commands() {
            builtin.push(def.group.clone().unwrap_or_else(|| def.name.clone()));
            builtin.push(def.path());
        }
        let names: Vec<&str> = builtin.iter().map(String::as_str).collect();
        rejected.extend(host::check_clashes(&mut loaded, &names));
        PluginSet { loaded, rejected }
    }

    /// Their commands, as the CLI shows them.
    pub fn command_defs(&self) -> Vec<CommandDef> {
        let mut out = Vec::new();
        for (index, plugin) in self.loaded.iter().enumerate() {
            for spec in plugin.commands() {
                out.push(CommandDef {
                    group: spec.group.clone(),
                    name: spec.name.clone(),
                    category: spec.category.clone(),
                    about: format!("{} [plugin {}]", spec.about, plugin.name()),
                    long_about: spec.about.clone(),
                    examples: spec.examples.clone(),
                    aliases: spec.aliases.clone(),
                    hidden: spec.hidden,
                    params: spec.params.clone(),
                    origin: Origin::Plugin(index),
                });
            }
        }
        out
    }

    /// Groups that only plugins use.
    pub fn groups(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for plugin in &self.loaded {
            for spec in plugin.commands() {
                if let Some(g) = &spec.group
                    && registry::group_about(g).is_none()
                    && !crate::cli_commands::GROUPS
                        .iter()
                        .any(|(name, _)| name == g)
                    && !out.iter().any(|(name, _)| name == g)
                {
                    out.push((g.clone(), format!("Commands of plugin {}", plugin.name())));
                }
            }
        }
        out
    }

    /// Warns once about every rejected file.
    pub fn log_rejections(&self) {
        for r in &self.rejected {
            tracing::warn!("plugin skipped: {r}");
        }
    }

    /// `plugin list`.
    pub fn list_output(&self) -> Output {
        #[derive(Serialize)]
        struct Row {
            file: PathBuf,
            status: &'static str,
            name: Option<String>,
            version: Option<String>,
            commands: Vec<String>,
            reason: Option<String>,
        }
        let mut rows: Vec<Row> = self
            .loaded
            .iter()
            .map(|p| Row {
                file: p.path().to_path_buf(),
                status: "loaded",
                name: Some(p.name().to_string()),
                version: Some(p.version().to_string()),
                commands: p.commands().iter().map(|c| c.full_name()).collect(),
                reason: None,
            })
            .collect();
        rows.extend(self.rejected.iter().map(|r| Row {
            file: r.path.clone(),
            status: "rejected",
            name: None,
            version: None,
            commands: Vec::new(),
            reason: Some(r.reason.clone()),
        }));
        let human = if rows.is_empty() {
            "No plugins found.".to_string()
        } else {
            rows.iter()
                .map(|r| match r.status {
                    "loaded" => format!(
                        "loaded    {} {} ({}): {}",
                        r.name.as_deref().unwrap_or("?"),
                        r.version.as_deref().unwrap_or("?"),
                        r.file.display(),
                        r.commands.join(", ")
                    ),
                    _ => format!(
                        "rejected  {}: {}",
                        r.file.display(),
                        r.reason.as_deref().unwrap_or("?")
                    ),
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        Output::from_value(
            serde_json::to_value(&rows).unwrap_or(Value::Null),
            Some(human),
        )
    }

    /// Runs a plugin command; the plugin may call back into maqet through `maqet`.
    pub fn invoke(
        &self,
        index: usize,
        name: &str,
        args: Value,
        maqet: &Maqet,
    ) -> Result<Output, MaqetError> {
        let plugin = self
            .loaded
            .get(index)
            .ok_or_else(|| MaqetError::invalid(format!("plugin command `{name}` is not loaded")))?;
        let services = Services { maqet };
        let value = plugin.invoke(name, &args, &services).map_err(|e| {
            let kind = match &e {
                host::PluginError::CommandFailed { kind, .. } => match kind {
                    host::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                    host::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                    host::ErrorKind::Timeout => ErrorKind::Timeout,
                    host::ErrorKind::Failure => ErrorKind::Failure,
                },
                _ => ErrorKind::Failure,
            };
            MaqetError::plugin(kind, e)
        })?;
        let human = match &value {
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        Ok(Output::from_value(value, human))
    }
}

/// What a plugin may do through its host handle.
struct Services<'a> {
    maqet: &'a Maqet,
}

impl HostServices for Services<'_> {
    fn call(&self, command: &str, args: Value) -> Result<Value, String> {
        self.maqet
            .call(command, args)
            .map_err(|e| maqet_error_chain::error_chain(&e))
    }

    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Error => tracing::error!("{message}"),
            LogLevel::Warn => tracing::warn!("{message}"),
            LogLevel::Info => tracing::info!("{message}"),
            LogLevel::Debug => tracing::debug!("{message}"),
        }
    }
}
