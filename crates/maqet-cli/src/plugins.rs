//! Plugin commands (filled in when plugins load).

use std::path::PathBuf;

use maqet_core::dirs::Dirs;
use maqet_core::registry::Output;
use maqet_core::{Maqet, MaqetError};

use crate::commands::CommandDef;

/// The plugins found for this run.
#[derive(Default)]
pub struct PluginSet;

impl PluginSet {
    /// Loads plugins from `<data>/plugins`, `$MAQET_PLUGIN_PATH` and `--plugin-dir`.
    pub fn load(_dirs: &Dirs, _extra: &[PathBuf]) -> PluginSet {
        PluginSet
    }
    /// Their commands.
    pub fn command_defs(&self) -> Vec<CommandDef> {
        Vec::new()
    }
    /// Groups plugins add.
    pub fn groups(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Warns about rejected files.
    pub fn log_rejections(&self) {}
    /// `plugin list`.
    pub fn list_output(&self) -> Output {
        Output::new(serde_json::Value::Array(Vec::new()))
    }
    /// Runs a plugin command.
    pub fn invoke(&self, _index: usize, name: &str, _args: serde_json::Value, _maqet: &Maqet) -> Result<Output, MaqetError> {
        Err(MaqetError::invalid(format!("plugin command `{name}` is not available")))
    }
}
