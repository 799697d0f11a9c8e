//! Building the clap command tree at run time from the command definitions.

use clap::builder::{PossibleValuesParser, Styles};
use clap::{Arg, ArgAction, ArgGroup, Command};

use crate::commands::{CliCommand, CommandDef, Origin, ParamSpec};
use crate::globals::{GLOBAL_OPTIONS, GlobalKind};
use maqet_core::registry::{ParamKind, config_flag_keys};

/// Name of the clap argument that collects free `--KEY VALUE` words.
pub const EXTRA_ARG: &str = "__extra";

/// The whole `maqet` command: every command in `commands`, under its group from `groups`.
pub fn build(commands: &[&CommandDef], groups: &[(String, String)]) -> Command {
    let mut root = Command::new("maqet")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_version_flag(true)
        .about("Manage QEMU virtual machines: YAML definitions, a VM registry, QMP automation, storage and snapshots")
        .after_help("Run `maqet COMMAND --help` for a command's options and examples.\nExit codes: 0 ok, 1 failure, 2 timeout/cancelled, 3 invalid input/not found/exists, 4 permission denied.")
        .styles(Styles::default())
        .subcommand_required(true)
        .arg_required_else_help(true)
        .args(global_args());

    for (group, about) in groups {
        let children: Vec<&CommandDef> = commands
            .iter()
            .copied()
            .filter(|c| c.group.as_deref() == Some(group.as_str()))
            .collect();
        let own = commands
            .iter()
            .find(|c| c.group.is_none() && &c.name == group);
        if children.is_empty() && own.is_none() {
            continue;
        }
        let mut cmd = match own {
            Some(def) => command_for(def)
                .args_conflicts_with_subcommands(true)
                .subcommand_negates_reqs(true),
            None => Command::new(group.clone())
                .about(about.clone())
                .subcommand_required(true)
                .arg_required_else_help(true),
        };
        for child in children {
            cmd = cmd.subcommand(command_for(child));
        }
        root = root.subcommand(cmd);
    }
    for def in commands.iter().filter(|c| {
        c.group.is_none()
            && !groups.iter().any(|(g, _)| *g == c.name)
            && !matches!(c.origin, Origin::Cli(CliCommand::Help))
    }) {
        root = root.subcommand(command_for(def));
    }
    root
}

fn global_args() -> Vec<Arg> {
    GLOBAL_OPTIONS
        .iter()
        .map(|g| {
            let mut arg = Arg::new(g.long)
                .long(g.long)
                .global(g.kind != GlobalKind::Version)
                .help(g.help)
                .help_heading("Global options");
            if let Some(c) = g.short {
                arg = arg.short(c);
            }
            if let Some(v) = g.value_name {
                arg = arg.value_name(v);
            }
            if !g.choices.is_empty() {
                arg = arg.value_parser(PossibleValuesParser::new(g.choices.iter().copied()));
            }
            if let Some(d) = g.default {
                arg = arg.default_value(d);
            }
            arg.action(match g.kind {
                GlobalKind::Value => ArgAction::Set,
                GlobalKind::Append => ArgAction::Append,
                GlobalKind::Count => ArgAction::Count,
                GlobalKind::Version => ArgAction::Version,
            })
        })
        .collect()
}

fn command_for(def: &CommandDef) -> Command {
    let mut after = String::new();
    if !def.examples.is_empty() {
        after.push_str("Examples:\n");
        for ex in &def.examples {
            after.push_str("  ");
            after.push_str(ex);
            after.push('\n');
        }
    }
    let mut cmd = Command::new(def.name.clone())
        .about(def.about.trim_end_matches('.').to_string())
        .hide(def.hidden)
        .visible_aliases(def.aliases.clone());
    if def.long_about.contains('\n') {
        cmd = cmd.long_about(def.long_about.clone());
    }
    if !after.is_empty() {
        cmd = cmd.after_help(after.trim_end().to_string());
    }
    let taken: Vec<String> = def.params.iter().map(ParamSpec::long).collect();
    for param in &def.params {
        match param.kind {
            ParamKind::ConfigKeys => {
                for key in config_flag_keys() {
                    let long = key.name.replace('_', "-");
                    if taken.contains(&long) {
                        continue;
                    }
                    cmd = cmd.arg(
                        Arg::new(format!("config:{}", key.name))
                            .long(long)
                            .value_name(key.name.to_uppercase())
                            .help_heading("VM config keys")
                            .help(key.doc),
                    );
                }
            }
            ParamKind::KeyValues => {
                cmd = cmd.arg(
                    Arg::new(EXTRA_ARG)
                        .num_args(0..)
                        .trailing_var_arg(true)
                        .allow_hyphen_values(true)
                        .value_name("--KEY VALUE")
                        .help(param.help.clone()),
                );
            }
            _ => cmd = cmd.arg(arg_for(param)),
        }
    }
    // Flags of one `OneOf` group exclude each other; that one is given at all is checked
    // with the other arguments, so a missing one reads the same from every face.
    let mut one_of: Vec<&str> = def
        .params
        .iter()
        .filter_map(|p| p.one_of.as_deref())
        .collect();
    one_of.dedup();
    for group in one_of {
        let members = def
            .params
            .iter()
            .filter(|p| p.one_of.as_deref() == Some(group))
            .map(|p| p.name.clone());
        cmd = cmd.group(
            ArgGroup::new(group.to_string())
                .args(members)
                .multiple(false),
        );
    }
    cmd
}

fn arg_for(param: &ParamSpec) -> Arg {
    let mut arg = Arg::new(param.name.clone()).help(param.help.clone());
    if let Some(v) = &param.value_name {
        arg = arg.value_name(v.clone());
    } else if param.kind != ParamKind::Bool {
        arg = arg.value_name(param.name.to_uppercase());
    }
    if !param.positional {
        arg = arg.long(param.long());
        if let Some(c) = param.short {
            arg = arg.short(c);
        }
    }
    arg = match (param.kind, param.positional) {
        (ParamKind::Bool, _) => arg.action(ArgAction::SetTrue),
        (ParamKind::List, true) => arg
            .num_args(if param.required { 1.. } else { 0.. })
            .action(ArgAction::Append),
        (ParamKind::List, false) => arg.action(ArgAction::Append),
        _ => arg.action(ArgAction::Set),
    };
    if !param.choices.is_empty() {
        arg = arg.value_parser(PossibleValuesParser::new(param.choices.clone()));
    }
    if let Some(d) = &param.default
        && param.kind != ParamKind::Bool
    {
        arg = arg.default_value(d.clone());
    }
    if param.required && param.default.is_none() {
        arg = arg.required(true);
    }
    arg
}
