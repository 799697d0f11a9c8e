//! One view of every command the CLI offers: built-in (`#[api_method]`) and plugin commands.

use maqet_core::registry::{self, ApiMethod, ParamKind};
use maqet_core::settings::Settings;

/// Where a command runs.
#[derive(Debug, Clone, Copy)]
pub enum Origin {
    /// A `Maqet` method.
    Builtin(&'static ApiMethod),
    /// A command of the loaded plugin at this index.
    Plugin(usize),
}

/// A parameter, as the CLI shows it.
#[derive(Debug, Clone)]
pub struct ParamDef {
    /// JSON name (snake_case).
    pub name: String,
    /// Long flag (kebab-case).
    pub long: String,
    /// Short flag.
    pub short: Option<char>,
    /// Value kind.
    pub kind: ParamKind,
    /// Must be given.
    pub required: bool,
    /// Positional.
    pub positional: bool,
    /// Help text.
    pub help: String,
    /// Default value (after `maqet.conf`).
    pub default: Option<String>,
    /// Placeholder.
    pub value_name: Option<String>,
    /// Closed set of values.
    pub possible_values: Vec<String>,
}

/// A command, as the CLI shows it.
#[derive(Debug, Clone)]
pub struct CommandDef {
    /// Parent command, if grouped.
    pub group: Option<String>,
    /// Name.
    pub name: String,
    /// Category for help.
    pub category: String,
    /// One-line description.
    pub about: String,
    /// Longer description.
    pub long_about: String,
    /// Examples.
    pub examples: Vec<String>,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Hidden from help.
    pub hidden: bool,
    /// Parameters.
    pub params: Vec<ParamDef>,
    /// Where it runs.
    pub origin: Origin,
}

impl CommandDef {
    /// `"add"` or `"qmp keys"`.
    pub fn path(&self) -> String {
        match &self.group {
            Some(g) => format!("{g} {}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The built-in commands, with option defaults taken from `maqet.conf`.
pub fn builtin_commands(settings: &Settings) -> Vec<CommandDef> {
    registry::methods()
        .into_iter()
        .map(|m| {
            let path = m.path();
            CommandDef {
                group: m.group.map(str::to_string),
                name: m.name.to_string(),
                category: m.category.to_string(),
                about: m.about.to_string(),
                long_about: m.long_about.to_string(),
                examples: m.examples.iter().map(|s| s.to_string()).collect(),
                aliases: m.aliases.iter().map(|s| s.to_string()).collect(),
                hidden: m.hidden,
                params: m
                    .params
                    .iter()
                    .map(|p| ParamDef {
                        name: p.name.to_string(),
                        long: p.long.to_string(),
                        short: p.short,
                        kind: p.kind,
                        required: p.required,
                        positional: p.positional,
                        help: p.help.to_string(),
                        default: settings
                            .command_default(&path, p.long)
                            .map(str::to_string)
                            .or_else(|| p.default.map(str::to_string)),
                        value_name: p.value_name.map(str::to_string),
                        possible_values: p.possible_values.iter().map(|s| s.to_string()).collect(),
                    })
                    .collect(),
                origin: Origin::Builtin(m),
            }
        })
        .collect()
}
