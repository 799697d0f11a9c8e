//! `docs/cli-reference.md`, generated from the command registry.

use std::fmt::Write as _;

use maqet_core::registry::{ParamKind, config_flag_keys};
use maqet_core::settings::Settings;

use crate::cli_commands::cli_commands;
use crate::commands::{CommandDef, builtin_commands};
use crate::globals::{GLOBAL_OPTIONS, GlobalKind};

/// Renders the CLI reference for the built-in commands and the CLI's own.
pub fn cli_reference_markdown() -> String {
    let mut commands = builtin_commands(&Settings::default(), None);
    commands.extend(cli_commands());
    let mut out = String::from(
        "<!-- Generated from the #[api_method] registry; run `MAQET_UPDATE_DOCS=1 cargo test -p maqet-cli --test docs` after changing a command. -->\n# maqet CLI reference\n\n",
    );
    global_options(&mut out);
    out.push_str("Every option also takes its default from `maqet.conf`: `commands: {<command>: {<option>: value}}` (for example `commands: {stop: {timeout: 60}}`). For `add`, VM config keys given there fill only what the files and options leave unset (see configuration.md).\n\n");
    let mut visible: Vec<&CommandDef> = commands.iter().filter(|c| !c.hidden).collect();
    visible.sort_by_key(|c| (c.category.clone(), c.path()));
    let mut category = String::new();
    for def in visible {
        if def.category != category {
            category = def.category.clone();
            let _ = writeln!(out, "## {} commands\n", category);
        }
        let _ = writeln!(out, "### `maqet {}`\n", def.path());
        let _ = writeln!(out, "{}\n", def.long_about.trim());
        let _ = writeln!(out, "```text\n{}\n```\n", usage(def));
        let params: Vec<_> = def.params.iter().collect();
        if !params.is_empty() {
            out.push_str("| Argument | Description |\n|---|---|\n");
            for p in params {
                let name = match (p.kind, p.positional) {
                    (ParamKind::ConfigKeys, _) => "`--KEY VALUE`".to_string(),
                    (ParamKind::KeyValues, _) => "`--KEY VALUE`...".to_string(),
                    (_, true) => format!(
                        "`{}`",
                        p.value_name
                            .clone()
                            .unwrap_or_else(|| p.name.to_uppercase())
                    ),
                    (ParamKind::Bool, false) => format!("`--{}`", p.long()),
                    (_, false) => format!(
                        "`--{} {}`",
                        p.long(),
                        p.value_name
                            .clone()
                            .unwrap_or_else(|| p.name.to_uppercase())
                    ),
                };
                let mut help = p.help.clone();
                if p.kind == ParamKind::ConfigKeys {
                    let keys: Vec<String> = config_flag_keys()
                        .map(|k| format!("`--{}`", k.name))
                        .collect();
                    help.push_str(&format!(": {}", keys.join(", ")));
                }
                if let Some(d) = &p.default {
                    help.push_str(&format!(" (default: `{d}`)"));
                }
                if !p.choices.is_empty() {
                    help.push_str(&format!(" (one of: {})", p.choices.join(", ")));
                }
                if let Some(question) = &p.confirm {
                    help.push_str(&format!(" (asks \"{question}\" on a terminal)"));
                }
                let _ = writeln!(out, "| {name} | {help} |");
            }
            out.push('\n');
        }
        if !def.examples.is_empty() {
            out.push_str("Examples:\n\n```sh\n");
            for ex in &def.examples {
                let _ = writeln!(out, "{ex}");
            }
            out.push_str("```\n\n");
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn global_options(out: &mut String) {
    out.push_str(
        "Global options, before or after the command:\n\n| Option | Description |\n|---|---|\n",
    );
    for g in GLOBAL_OPTIONS {
        let mut name = format!("`--{}", g.long);
        if let Some(v) = g.value_name {
            name.push(' ');
            name.push_str(v);
        }
        name.push('`');
        if let Some(c) = g.short {
            name = match g.kind {
                GlobalKind::Count => format!("`-{c}`/`-{c}{c}`/`-{c}{c}{c}`, {name}"),
                _ => format!("`-{c}`, {name}"),
            };
        }
        let mut help = g.help.to_string();
        if let Some(d) = g.default {
            help.push_str(&format!(" (default: `{d}`)"));
        }
        if !g.choices.is_empty() {
            help.push_str(&format!(" (one of: {})", g.choices.join(", ")));
        }
        let _ = writeln!(out, "| {name} | {help} |");
    }
    out.push('\n');
}

fn usage(def: &CommandDef) -> String {
    let mut words = vec![format!("maqet {}", def.path())];
    for p in &def.params {
        let vn = p
            .value_name
            .clone()
            .unwrap_or_else(|| p.name.to_uppercase());
        words.push(match (p.kind, p.positional, p.required) {
            (ParamKind::ConfigKeys | ParamKind::KeyValues, _, _) => "[--KEY VALUE]...".into(),
            (ParamKind::List, true, true) => format!("<{vn}>..."),
            (ParamKind::List, true, false) => format!("[{vn}]..."),
            (_, true, true) => format!("<{vn}>"),
            (_, true, false) => format!("[{vn}]"),
            (ParamKind::Bool, false, _) => format!("[--{}]", p.long()),
            (ParamKind::List, false, _) => format!("[--{} {vn}]...", p.long()),
            (_, false, true) => format!("--{} {vn}", p.long()),
            (_, false, false) => format!("[--{} {vn}]", p.long()),
        });
    }
    words.join(" ")
}
