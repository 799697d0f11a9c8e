//! The host's side: find plugin libraries, load them safely, run their commands.
//!
//! ```no_run
//! use maqet_plugin_api::host::{self, PluginFile};
//! use std::path::PathBuf;
//!
//! let mut loaded = Vec::new();
//! let accept_all = |_: &std::path::Path| Ok(());
//! for file in host::discover(&[PathBuf::from("/var/lib/maqet/plugins")], &accept_all) {
//!     match file {
//!         PluginFile::Loaded(plugin) => loaded.push(plugin),
//!         PluginFile::Rejected(rejected) => eprintln!("warning: {rejected}"),
//!     }
//! }
//! for rejected in host::check_clashes(&mut loaded, &["start", "stop", "qmp"]) {
//!     eprintln!("warning: {rejected}");
//! }
//! ```

mod clash;
mod load;
mod shipped;

use std::fmt;
use std::path::{Path, PathBuf};

use abi_stable::std_types::{RErr, ROk};
use serde_json::Value;

pub use crate::error::{ErrorKind, PluginError, PluginMessage};
pub use crate::services::{HostServices, LogLevel};
pub use clash::check_clashes;
pub use load::{Vetter, discover};
pub use maqet_command::{CommandSpec, ParamKind, ParamSpec};
pub use shipped::{SHIPPED_PLUGINS, discover_shipped, shipped_dirs};

use crate::ffi::PluginModuleRef;
use crate::services::handle_for;

/// One `.so` found in a plugin directory: usable, or turned away with a reason.
pub enum PluginFile {
    /// The library is a compatible plugin.
    Loaded(LoadedPlugin),
    /// The library was not loaded (not a plugin, wrong interface version, name clash...).
    Rejected(RejectedPlugin),
}

/// A plugin library that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedPlugin {
    /// The library file.
    pub path: PathBuf,
    /// Why it was turned away, in words for the user.
    pub reason: String,
}

impl fmt::Display for RejectedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ignoring plugin {}: {}",
            self.path.display(),
            self.reason
        )
    }
}

/// A plugin library that passed the interface checks.
pub struct LoadedPlugin {
    path: PathBuf,
    module: PluginModuleRef,
    name: String,
    version: String,
    commands: Vec<CommandSpec>,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("commands", &self.commands)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The library file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's own version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The commands it offers.
    pub fn commands(&self) -> &[CommandSpec] {
        &self.commands
    }

    /// Runs one of its commands (by CLI name or alias) with JSON arguments.
    pub fn invoke(
        &self,
        command: &str,
        args: &Value,
        host: &dyn HostServices,
    ) -> Result<Value, PluginError> {
        let spec = self
            .commands
            .iter()
            .find(|c| c.name == command || c.aliases.iter().any(|a| a == command))
            .ok_or_else(|| PluginError::UnknownCommand {
                plugin: self.name.clone(),
                command: command.to_owned(),
            })?;
        let command = spec.name.as_str();
        let args = args.to_string();
        let handle = handle_for(&host);
        let answer = (self.module.invoke())(command.into(), args.as_str().into(), handle);
        match answer {
            ROk(json) => serde_json::from_str(&json).map_err(|source| PluginError::InvalidResult {
                plugin: self.name.clone(),
                command: command.to_owned(),
                source,
            }),
            RErr(failure) => Err(PluginError::CommandFailed {
                plugin: self.name.clone(),
                command: command.to_owned(),
                kind: failure.kind,
                source: PluginMessage::chain(
                    failure.message.into(),
                    failure.causes.into_iter().map(String::from).collect(),
                ),
            }),
        }
    }
}
