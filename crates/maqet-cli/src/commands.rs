//! One view of every command the CLI offers: built-in (`#[api_method]`) and plugin commands.

use maqet_core::registry::{self, ApiMethod};
use maqet_core::settings::Settings;

/// Where a command runs.
#[derive(Debug, Clone, Copy)]
pub enum Origin {
    /// A `Maqet` method.
    Builtin(&'static ApiMethod),
    /// A command of the loaded plugin at this index.
    Plugin(usize),
    /// A command the CLI runs itself.
    Cli(CliCommand),
}

/// The commands the CLI runs itself (they need the command tree or the plugin list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliCommand {
    /// `completions SHELL`.
    Completions,
    /// `man`.
    Man,
    /// `plugin list`.
    PluginList,
    /// `help [COMMAND]...`, answered by clap.
    Help,
}

/// A parameter, as the CLI shows it: the one description built-in, CLI and plugin commands
/// share (`maqet_command::ParamSpec`).
pub use maqet_command::ParamSpec;

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
    pub params: Vec<ParamSpec>,
    /// Where it runs.
    pub origin: Origin,
}

impl CommandDef {
    /// The word typed first to reach it: its group, else its own name.
    pub fn top_word(&self) -> &str {
        self.group.as_deref().unwrap_or(&self.name)
    }

    /// Whether typing `word` first reaches it (its group, its name or an alias).
    pub fn answers_to(&self, word: &str) -> bool {
        match &self.group {
            Some(group) => group == word,
            None => self.name == word || self.aliases.iter().any(|a| a == word),
        }
    }

    /// `"add"` or `"qmp keys"`.
    pub fn path(&self) -> String {
        match &self.group {
            Some(g) => format!("{g} {}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Every group of commands: the registry's, the plugins' own, then the CLI's; with `only`,
/// the registry's group of that name alone (describing every registry group costs a registry
/// sort per group).
pub fn all_groups(plugin_groups: &[(String, String)], only: Option<&str>) -> Vec<(String, String)> {
    let registry_groups = match only {
        Some(top) => registry::methods_unordered()
            .any(|m| m.group == Some(top))
            .then(|| (top, registry::group_about(top).unwrap_or_default()))
            .into_iter()
            .collect(),
        None => registry::groups(),
    };
    let mut groups: Vec<(String, String)> = registry_groups
        .into_iter()
        .map(|(name, about)| (name.to_string(), about.to_string()))
        .collect();
    groups.extend(plugin_groups.iter().cloned());
    groups.extend(
        crate::cli_commands::GROUPS
            .iter()
            .map(|(n, a)| (n.to_string(), a.to_string())),
    );
    groups
}

/// The top-level word of the registry command or group that typing `word` first reaches
/// (`"ls"` for an alias of `ls`), if any.
pub fn registry_top_word(word: &str) -> Option<&'static str> {
    registry::methods_unordered().find_map(|m| match m.group {
        Some(group) => (group == word).then_some(group),
        None => (m.name == word || m.aliases.contains(&word)).then_some(m.name),
    })
}

/// The built-in commands, with option defaults taken from `maqet.conf`; with `only`, just the
/// commands under that top-level word (`"qmp"`: `qmp` and `qmp keys`, ...).
pub fn builtin_commands(settings: &Settings, only: Option<&str>) -> Vec<CommandDef> {
    let mut methods: Vec<_> = registry::methods_unordered()
        .filter(|m| only.is_none_or(|top| m.group.unwrap_or(m.name) == top))
        .collect();
    registry::sort_methods(&mut methods);
    methods
        .into_iter()
        .map(|m| {
            let path = m.path();
            let spec = m.spec();
            CommandDef {
                group: spec.group,
                name: spec.name,
                category: spec.category,
                about: spec.about,
                long_about: m.long_about.to_string(),
                examples: spec.examples,
                aliases: spec.aliases,
                hidden: spec.hidden,
                params: spec
                    .params
                    .into_iter()
                    .map(|mut p| {
                        if let Some(conf) = settings.command_default(&path, &p.long()) {
                            p.default = Some(conf.to_string());
                        }
                        p
                    })
                    .collect(),
                origin: Origin::Builtin(m),
            }
        })
        .collect()
}
