//! Hints printed after a usage error, for two slips real users made:
//!
//! - another command's argument order: `maqet qmp web screendump shot.png`, where the VM
//!   comes before a subcommand of its group, gets "did you mean `maqet qmp screendump web
//!   shot.png`?";
//! - a value given to the wrong option: `maqet export web --format libvirt` (`--format` is
//!   the output format) gets "did you mean `--to libvirt`?", found from the options of the
//!   command typed whose possible values hold that value.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue};

use crate::commands::CommandDef;

/// The hint for a usage error of the command line `args`, if one of the slips fits.
pub fn for_usage_error(
    args: &[OsString],
    commands: &[CommandDef],
    clap_error: Option<&clap::Error>,
) -> Option<String> {
    swapped_subcommand(args, commands)
        .or_else(|| clap_error.and_then(|e| value_for_another_option(e, args, commands)))
}

/// The words of `args` (after the program name) that are not options, with their indices.
fn positional_words(args: &[OsString]) -> Vec<(usize, &str)> {
    args.iter()
        .enumerate()
        .skip(1)
        .filter_map(|(i, a)| a.to_str().map(|s| (i, s)))
        .filter(|(_, s)| !s.starts_with('-'))
        .collect()
}

fn swapped_subcommand(args: &[OsString], commands: &[CommandDef]) -> Option<String> {
    let group = crate::prescan::command_word(args)?;
    let in_group: Vec<&CommandDef> = commands
        .iter()
        .filter(|d| d.group.as_deref() == Some(group.as_str()))
        .collect();
    if in_group.is_empty() {
        return None;
    }
    let names = |word: &str| {
        in_group
            .iter()
            .any(|d| d.name == word || d.aliases.iter().any(|a| a == word))
    };
    let words = positional_words(args);
    let at = words.iter().position(|(_, w)| *w == group)?;
    let (first, second) = (words.get(at + 1)?, words.get(at + 2)?);
    if names(first.1) || !names(second.1) {
        return None;
    }
    let mut fixed: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    fixed.swap(first.0 - 1, second.0 - 1);
    Some(format!("did you mean `maqet {}`?", fixed.join(" ")))
}

fn value_for_another_option(
    error: &clap::Error,
    args: &[OsString],
    commands: &[CommandDef],
) -> Option<String> {
    let Some(ContextValue::String(value)) = error.get(ContextKind::InvalidValue) else {
        return None;
    };
    let Some(ContextValue::String(wrong)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let top = crate::prescan::command_word(args)?;
    let words = positional_words(args);
    let second = words
        .iter()
        .skip_while(|(_, w)| *w != top)
        .nth(1)
        .map(|(_, w)| *w);
    let typed = commands
        .iter()
        .filter(|d| d.answers_to(&top))
        .find(|d| d.group.is_none() || second == Some(d.name.as_str()))?;
    let right = typed.params.iter().find(|p| {
        !p.positional
            && p.choices.iter().any(|v| v == value)
            && !wrong.starts_with(&format!("--{} ", p.long()))
    })?;
    let wrong = wrong.split_whitespace().next().unwrap_or(wrong);
    Some(format!(
        "`{value}` is not a value of `{wrong}`; did you mean `--{} {value}`?",
        right.long()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{Origin, ParamSpec};
    use maqet_core::registry::ParamKind;

    fn def(group: Option<&str>, name: &str, params: Vec<ParamSpec>) -> CommandDef {
        CommandDef {
            group: group.map(str::to_owned),
            name: name.into(),
            category: String::new(),
            about: String::new(),
            long_about: String::new(),
            examples: Vec::new(),
            aliases: Vec::new(),
            hidden: false,
            params,
            origin: Origin::Plugin(0),
        }
    }

    fn argv(line: &str) -> Vec<OsString> {
        std::iter::once("maqet")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn a_vm_before_a_subcommand_of_its_group_is_put_after_it() {
        let commands = vec![
            def(Some("qmp"), "screendump", Vec::new()),
            def(Some("qmp"), "keys", Vec::new()),
            def(None, "qmp", Vec::new()),
        ];
        let hint = swapped_subcommand(&argv("qmp web screendump shot.png --png"), &commands);
        assert_eq!(
            hint.as_deref(),
            Some("did you mean `maqet qmp screendump web shot.png --png`?")
        );
        assert_eq!(
            swapped_subcommand(&argv("qmp screendump web shot.png"), &commands),
            None
        );
        assert_eq!(
            swapped_subcommand(&argv("qmp web query-status"), &commands),
            None
        );
    }

    #[test]
    fn a_value_of_another_option_names_that_option() {
        let to = ParamSpec::flag("to", ParamKind::String, "Target format")
            .choices(&["libvirt", "nomad"]);
        let commands = vec![def(None, "export", vec![to])];
        let mut cli = clap::Command::new("maqet")
            .arg(
                clap::Arg::new("format")
                    .long("format")
                    .global(true)
                    .value_parser(["auto", "json"]),
            )
            .subcommand(
                clap::Command::new("export")
                    .arg(clap::Arg::new("vm"))
                    .arg(clap::Arg::new("to").long("to")),
            );
        let args = argv("export web --format libvirt");
        let error = cli.try_get_matches_from_mut(&args).unwrap_err();
        let hint = value_for_another_option(&error, &args, &commands);
        assert_eq!(
            hint.as_deref(),
            Some("`libvirt` is not a value of `--format`; did you mean `--to libvirt`?")
        );
    }
}
