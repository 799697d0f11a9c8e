//! `docs/cli-reference.md`, generated from the command registry.

use std::fmt::Write as _;

use maqet_core::config::CONFIG_KEYS;
use maqet_core::registry::ParamKind;
use maqet_core::settings::Settings;

use crate::commands::{CommandDef, builtin_commands};

/// Renders the CLI reference for the built-in commands.
pub fn cli_reference_markdown() -> String {
    let commands = builtin_commands(&Settings::default());
    let mut out = String::from(
        "<!-- Generated from the #[api_method] registry; run `MAQET_UPDATE_DOCS=1 cargo test -p maqet-cli --test docs` after changing a command. -->\n# maqet CLI reference\n\n",
    );
    out.push_str("Global options (before or after the command): `--format auto|json|yaml|table|plain`, `-v`/`-vv`/`-vvv`, `--log-file PATH`, `--maqet-data-dir DIR`, `--maqet-config-dir DIR`, `--maqet-runtime-dir DIR`, `--plugin-dir DIR`, `--version`.\n\n");
    out.push_str("Every option also takes its default from `maqet.conf`: `commands: {<command>: {<option>: value}}` (for example `commands: {stop: {timeout: 60}}`).\n\n");
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
                    (ParamKind::Bool, false) => format!("`--{}`", p.long),
                    (_, false) => format!(
                        "`--{} {}`",
                        p.long,
                        p.value_name
                            .clone()
                            .unwrap_or_else(|| p.name.to_uppercase())
                    ),
                };
                let mut help = p.help.clone();
                if p.kind == ParamKind::ConfigKeys {
                    let keys: Vec<String> = CONFIG_KEYS
                        .iter()
                        .filter(|k| k.name != "name")
                        .map(|k| format!("`--{}`", k.name))
                        .collect();
                    help.push_str(&format!(": {}", keys.join(", ")));
                }
                if let Some(d) = &p.default {
                    help.push_str(&format!(" (default: `{d}`)"));
                }
                if !p.possible_values.is_empty() {
                    help.push_str(&format!(" (one of: {})", p.possible_values.join(", ")));
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
            (ParamKind::Bool, false, _) => format!("[--{}]", p.long),
            (ParamKind::List, false, _) => format!("[--{} {vn}]...", p.long),
            (_, false, true) => format!("--{} {vn}", p.long),
            (_, false, false) => format!("[--{} {vn}]", p.long),
        });
    }
    words.join(" ")
}
