//! The command registry: every `#[api_method]` registers one [`ApiMethod`] here.
//!
//! The registry is the single source for the CLI tree, `docs/cli-reference.md`, option defaults
//! from `maqet.conf`, and calls by name (plugins, scripts).

mod args;
mod choices;
mod config_flags;
mod confirm;
mod groups;
mod one_of;
mod output;
mod python_face;
mod python_types;
mod quantities;

pub use args::{ArgType, Args, ConfigOverrides, KeyValues};
pub(crate) use choices::choice_arg;
pub use choices::{Choice, parse_choice};
pub use config_flags::{conf_defaults_for_unset, config_flag_keys, config_flag_value};
pub use confirm::{Ask, WithoutTerminal, confirm_flags, pending_questions};
pub use groups::{ApiGroup, check_groups, group_about, groups};
pub use one_of::{OneOf, concat_params, exactly_one, params_len};
pub use output::{ByteStream, CommandOutput, Output, Passthrough, pretty_json};
pub use python_face::{PythonFace, PythonParam, PythonReturn};
pub use python_types::{PythonKey, PythonType, PythonTypes, TypedDictClass};
pub use quantities::{ByteSizeArg, DurationArg, Resolve};

use crate::{Maqet, MaqetError};

/// What kind of value a parameter takes: one enum for the registry, the CLI and plugins.
pub use maqet_command::ParamKind;

/// One parameter of a registered command, as `#[api_method]` writes it into a `static`: the
/// compile-time record of the shared [`maqet_command::ParamSpec`] (which owns its strings, so
/// it cannot be built in a `const`). [`ParamSpec::to_spec`] gives the shared description the
/// CLI tree, the reference and the plugin interface read; this record adds what only the
/// registry needs (`item_kind`, for the Python face).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ParamSpec {
    /// Name in Rust and in JSON arguments (snake_case).
    pub name: &'static str,
    /// Long flag name (kebab-case), used when the parameter is not positional.
    pub long: &'static str,
    /// Optional short flag.
    pub short: Option<char>,
    /// Value kind.
    pub kind: ParamKind,
    /// The kind of each item of a [`ParamKind::List`]; the same as `kind` otherwise.
    pub item_kind: ParamKind,
    /// Whether a value must be given.
    pub required: bool,
    /// Positional on the command line (else a flag).
    pub positional: bool,
    /// Help text.
    pub help: &'static str,
    /// Default value, as the user would type it.
    pub default: Option<&'static str>,
    /// Placeholder shown in help.
    pub value_name: Option<&'static str>,
    /// Accepted values, when the set is closed (from the parameter type's [`ArgType::CHOICES`]).
    pub possible_values: &'static [&'static str],
    /// A question a caller on a terminal must answer yes to before the command runs with this
    /// flag set (`rm --all`).
    pub confirm: Option<&'static str>,
    /// Setting this flag answers every [`ParamSpec::confirm`] question with yes (`--force`).
    pub answers_yes: bool,
    /// The group of mutually exclusive flags this one belongs to (a [`OneOf`] enum, such as
    /// `wait`'s conditions): exactly one flag of a group is given.
    pub one_of: Option<&'static str>,
}

impl ParamSpec {
    /// The shared description of this parameter (`maqet_command::ParamSpec`).
    pub fn to_spec(&self) -> maqet_command::ParamSpec {
        let kebab = self.name.replace('_', "-");
        maqet_command::ParamSpec {
            name: self.name.to_string(),
            kind: self.kind,
            default: self.default.map(str::to_string),
            help: self.help.to_string(),
            positional: self.positional,
            repeatable: self.kind == ParamKind::List,
            required: self.required,
            short: self.short,
            value_name: self.value_name.map(str::to_string),
            choices: self.possible_values.iter().map(|s| s.to_string()).collect(),
            long: (self.long != kebab).then(|| self.long.to_string()),
            confirm: self.confirm.map(str::to_string),
            answers_yes: self.answers_yes,
            one_of: self.one_of.map(str::to_string),
        }
    }
}

/// Invokes a command with JSON arguments.
pub type Invoker = fn(&Maqet, &mut Args) -> Result<Output, MaqetError>;

/// A registered command.
#[derive(Debug)]
pub struct ApiMethod {
    /// CLI name (kebab-case).
    pub name: &'static str,
    /// The Rust method name on `Maqet`.
    pub rust_name: &'static str,
    /// Parent command (`qmp`, `storage`, ...) or none for a top-level command; its description
    /// is the [`ApiGroup`] of that name.
    pub group: Option<&'static str>,
    /// Category used to group `--help` output.
    pub category: &'static str,
    /// One-line description.
    pub about: &'static str,
    /// Full description (the method's doc comment).
    pub long_about: &'static str,
    /// Example command lines.
    pub examples: &'static [&'static str],
    /// Other names the command answers to.
    pub aliases: &'static [&'static str],
    /// Left out of help and docs.
    pub hidden: bool,
    /// Parameters in declaration order.
    pub params: &'static [ParamSpec],
    /// The command as a method of the Python `Maqet` class.
    pub python: PythonFace,
    /// Calls the method.
    pub invoke: Invoker,
}

impl ApiMethod {
    /// The command as typed after `maqet`: `"add"` or `"qmp keys"`.
    pub fn path(&self) -> String {
        match self.group {
            Some(group) => format!("{group} {}", self.name),
            None => self.name.to_string(),
        }
    }

    /// The Python method's name: the declared `python_name`, else the path with spaces and
    /// dashes turned into underscores (`storage info` → `storage_info`).
    pub fn python_method_name(&self) -> String {
        match self.python.name {
            Some(name) => name.to_string(),
            None => self.path().replace([' ', '-'], "_"),
        }
    }

    /// The shared description of this command (`maqet_command::CommandSpec`): what a plugin
    /// gives for its commands.
    pub fn spec(&self) -> maqet_command::CommandSpec {
        maqet_command::CommandSpec {
            name: self.name.to_string(),
            group: self.group.map(str::to_string),
            category: self.category.to_string(),
            about: self.about.to_string(),
            examples: self.examples.iter().map(|s| s.to_string()).collect(),
            aliases: self.aliases.iter().map(|s| s.to_string()).collect(),
            hidden: self.hidden,
            params: self.params.iter().map(ParamSpec::to_spec).collect(),
        }
    }

    /// Finds a parameter by its JSON name.
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }
}

inventory::collect!(ApiMethod);

/// All registered commands, sorted by group then name.
pub fn methods() -> Vec<&'static ApiMethod> {
    let mut all: Vec<&'static ApiMethod> = methods_unordered().collect();
    sort_methods(&mut all);
    all
}

/// All registered commands in no particular order: for a search or a filter that sorts only
/// what it keeps (a short command sorts a hundred entries less; issue Q).
pub fn methods_unordered() -> impl Iterator<Item = &'static ApiMethod> {
    inventory::iter::<ApiMethod>.into_iter()
}

/// Sorts commands as [`methods`] returns them: by group, then name.
pub fn sort_methods(methods: &mut [&'static ApiMethod]) {
    methods.sort_by(|a, b| (a.group, a.name).cmp(&(b.group, b.name)));
}

/// Finds a command by its path (`"ls"`, `"qmp keys"`, also `"qmp.keys"`) or an alias.
pub fn find(path: &str) -> Option<&'static ApiMethod> {
    let normalized = path.replace('.', " ");
    let mut words = normalized.split_whitespace();
    let first = words.next()?;
    let second = words.next();
    if words.next().is_some() {
        return None;
    }
    let (group, name) = match second {
        Some(name) => (Some(first), name),
        None => (None, first),
    };
    inventory::iter::<ApiMethod>
        .into_iter()
        .find(|m| m.group == group && (m.name == name || m.aliases.contains(&name)))
}

/// The names of every top-level command word (commands and groups), for clash checks.
pub fn top_level_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = methods()
        .into_iter()
        .flat_map(|m| {
            let mut v = vec![m.group.unwrap_or(m.name)];
            if m.group.is_none() {
                v.extend(m.aliases.iter().copied());
            }
            v
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}
