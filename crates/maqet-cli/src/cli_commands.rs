//! The commands the CLI runs itself (`completions`, `man`, `plugin list`, `help`), described
//! like registry commands so help, completions and `docs/cli-reference.md` show them alike.

use clap::ValueEnum;
use clap_complete::Shell;
use maqet_core::registry::ParamKind;

use crate::commands::{CliCommand, CommandDef, Origin, ParamSpec};

/// Groups only the CLI's own commands use.
pub const GROUPS: &[(&str, &str)] = &[("plugin", "List and inspect plugins")];

/// The shells `completions` writes scripts for, as clap_complete names them.
pub fn shell_names() -> Vec<String> {
    Shell::value_variants()
        .iter()
        .filter_map(|s| s.to_possible_value())
        .map(|v| v.get_name().to_string())
        .collect()
}

fn def(
    group: Option<&str>,
    name: &str,
    about: &str,
    examples: &[&str],
    params: Vec<ParamSpec>,
    command: CliCommand,
) -> CommandDef {
    CommandDef {
        group: group.map(str::to_string),
        name: name.to_string(),
        category: "shell".to_string(),
        about: about.to_string(),
        long_about: format!("{about}."),
        examples: examples.iter().map(|s| s.to_string()).collect(),
        aliases: Vec::new(),
        hidden: false,
        params,
        origin: Origin::Cli(command),
    }
}

/// The CLI's own commands.
pub fn cli_commands() -> Vec<CommandDef> {
    let shell = ParamSpec {
        choices: shell_names(),
        ..ParamSpec::positional("shell", ParamKind::String, "The shell to complete for")
    };
    let topic = ParamSpec {
        positional: true,
        value_name: Some("COMMAND".to_string()),
        ..ParamSpec::flag("command", ParamKind::List, "The command to describe")
    };
    let mut plugin_list = def(
        Some("plugin"),
        "list",
        "Show each plugin file found: loaded (name, version, commands) or rejected (why)",
        &["maqet plugin list", "maqet plugin list --format json"],
        Vec::new(),
        CliCommand::PluginList,
    );
    plugin_list.category = "plugin".to_string();
    vec![
        def(
            None,
            "completions",
            "Print a shell completion script",
            &[
                "maqet completions bash > /etc/bash_completion.d/maqet",
                "maqet completions zsh > ~/.zfunc/_maqet",
            ],
            vec![shell],
            CliCommand::Completions,
        ),
        def(
            None,
            "man",
            "Print the man page (roff)",
            &["maqet man > maqet.1 && man ./maqet.1"],
            Vec::new(),
            CliCommand::Man,
        ),
        def(
            None,
            "help",
            "Print the help of maqet or of a command",
            &["maqet help", "maqet help qmp keys"],
            vec![topic],
            CliCommand::Help,
        ),
        plugin_list,
    ]
}
