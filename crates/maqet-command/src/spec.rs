//! The description of a command and its parameters, as the CLI shows it: built-in commands
//! (converted from the registry's compile-time records), the CLI's own commands and plugin
//! commands (built by a plugin, or by `#[derive(Request)]`) all arrive at the command tree as
//! these two types. Their FFI-safe twins are in [`crate::ffi`].

use serde::{Deserialize, Serialize};

use crate::ParamKind;

/// One parameter of a command: its JSON key (snake_case) and how the CLI offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// The JSON key, snake_case (the CLI flag is its kebab-case form).
    pub name: String,
    /// The kind of value.
    pub kind: ParamKind,
    /// The default, as the CLI would print it, when the parameter is optional.
    pub default: Option<String>,
    /// One-line help shown by `--help`.
    pub help: String,
    /// Given by position (`maqet cmd VALUE`) instead of as a `--flag`.
    pub positional: bool,
    /// May be given more than once; the JSON value is then an array.
    pub repeatable: bool,
    /// Must be given.
    pub required: bool,
    /// A one-letter flag (`-o`), for a `--flag` parameter.
    #[serde(default)]
    pub short: Option<char>,
    /// The placeholder `--help` shows for the value (`FILE`); default: the name in capitals.
    #[serde(default)]
    pub value_name: Option<String>,
    /// The accepted values, when the set is closed (offered by completions, checked by the CLI).
    #[serde(default)]
    pub choices: Vec<String>,
    /// The long flag when it is not the name in kebab-case.
    #[serde(default)]
    pub long: Option<String>,
    /// A question a caller on a terminal must answer yes to before the command runs with this
    /// flag set (`rm --all`).
    #[serde(default)]
    pub confirm: Option<String>,
    /// Setting this flag answers every `confirm` question with yes (`--force`).
    #[serde(default)]
    pub answers_yes: bool,
    /// The group of mutually exclusive flags it belongs to (at most one is given).
    #[serde(default)]
    pub one_of: Option<String>,
}

impl ParamSpec {
    /// An optional `--flag` parameter.
    pub fn flag(name: &str, kind: ParamKind, help: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            default: None,
            help: help.to_owned(),
            positional: false,
            repeatable: false,
            required: false,
            short: None,
            value_name: None,
            choices: Vec::new(),
            long: None,
            confirm: None,
            answers_yes: false,
            one_of: None,
        }
    }

    /// The long flag: the declared one, else the name in kebab-case (`serial_log` →
    /// `serial-log`).
    pub fn long(&self) -> String {
        match &self.long {
            Some(long) => long.clone(),
            None => self.name.replace('_', "-"),
        }
    }

    /// A required positional parameter.
    pub fn positional(name: &str, kind: ParamKind, help: &str) -> Self {
        Self {
            positional: true,
            required: true,
            ..Self::flag(name, kind, help)
        }
    }

    /// Marks the parameter as required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Marks the parameter as repeatable.
    pub fn repeatable(mut self) -> Self {
        self.repeatable = true;
        self
    }

    /// Gives the `--flag` parameter a one-letter form (`-o`).
    pub fn short(mut self, letter: char) -> Self {
        self.short = Some(letter);
        self
    }

    /// Sets the placeholder `--help` shows for the value.
    pub fn value_name(mut self, placeholder: &str) -> Self {
        self.value_name = Some(placeholder.to_owned());
        self
    }

    /// Closes the set of accepted values.
    pub fn choices(mut self, names: &[&str]) -> Self {
        self.choices = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// Sets the default value shown in help.
    pub fn default_value(mut self, default: &str) -> Self {
        self.default = Some(default.to_owned());
        self.required = false;
        self
    }
}

/// One command: its CLI name, help text and parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// The CLI name, kebab-case (`cloud-init`).
    pub name: String,
    /// The group it lives under (`maqet <group> <name>`), if any.
    pub group: Option<String>,
    /// The heading `--help` lists it under.
    pub category: String,
    /// One-line summary.
    pub about: String,
    /// Example command lines shown in help.
    pub examples: Vec<String>,
    /// Other names the command answers to.
    pub aliases: Vec<String>,
    /// Left out of `--help` listings.
    pub hidden: bool,
    /// The parameters, in CLI order.
    pub params: Vec<ParamSpec>,
}

impl CommandSpec {
    /// A command in the `Plugins` category with no parameters yet.
    pub fn new(name: &str, about: &str) -> Self {
        Self {
            name: name.to_owned(),
            group: None,
            category: "Plugins".to_owned(),
            about: about.to_owned(),
            examples: Vec::new(),
            aliases: Vec::new(),
            hidden: false,
            params: Vec::new(),
        }
    }

    /// Adds a parameter.
    pub fn param(mut self, param: ParamSpec) -> Self {
        self.params.push(param);
        self
    }

    /// Adds an example command line.
    pub fn example(mut self, example: &str) -> Self {
        self.examples.push(example.to_owned());
        self
    }

    /// Puts the command under a group (`maqet <group> <name>`).
    pub fn group(mut self, group: &str) -> Self {
        self.group = Some(group.to_owned());
        self
    }

    /// Sets the help category.
    pub fn category(mut self, category: &str) -> Self {
        self.category = category.to_owned();
        self
    }

    /// Adds an alias.
    pub fn alias(mut self, alias: &str) -> Self {
        self.aliases.push(alias.to_owned());
        self
    }

    /// The full name users type: `group name` or `name`.
    pub fn full_name(&self) -> String {
        match &self.group {
            Some(group) => format!("{group} {}", self.name),
            None => self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_kinds_serialize_kebab_case() {
        let json = serde_json::to_string(&[ParamKind::List, ParamKind::KeyValues]).unwrap();
        assert_eq!(json, r#"["list","key-values"]"#);
    }

    #[test]
    fn full_name_includes_group() {
        assert_eq!(
            CommandSpec::new("snap", "x").group("qmp").full_name(),
            "qmp snap"
        );
        assert_eq!(CommandSpec::new("export", "x").full_name(), "export");
    }

    #[test]
    fn default_value_makes_param_optional() {
        let p = ParamSpec::positional("vm", ParamKind::String, "VM").default_value("a");
        assert!(!p.required);
        assert_eq!(p.default.as_deref(), Some("a"));
    }
}
