//! Reading argv before the command tree is built: the global options marked `early` in
//! [`GLOBAL_OPTIONS`] (they decide where maqet looks for config, state and plugins), and the
//! command word typed (it decides how much of the tree clap needs).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::globals::{
    CONFIG_DIR, DATA_DIR, GLOBAL_OPTIONS, GlobalKind, GlobalOption, PLUGIN_DIR, RUNTIME_DIR,
};

/// The early global options found in argv, by long name, in the order given.
#[derive(Debug, Default, Clone)]
pub struct EarlyOptions {
    values: BTreeMap<&'static str, Vec<String>>,
}

impl EarlyOptions {
    fn last(&self, long: &str) -> Option<&str> {
        self.values.get(long)?.last().map(String::as_str)
    }

    fn path(&self, long: &str) -> Option<PathBuf> {
        self.last(long).map(PathBuf::from)
    }

    /// `--maqet-data-dir`.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.path(DATA_DIR)
    }

    /// `--maqet-config-dir`.
    pub fn config_dir(&self) -> Option<PathBuf> {
        self.path(CONFIG_DIR)
    }

    /// `--maqet-runtime-dir`.
    pub fn runtime_dir(&self) -> Option<PathBuf> {
        self.path(RUNTIME_DIR)
    }

    /// Every `--plugin-dir`.
    pub fn plugin_dirs(&self) -> Vec<PathBuf> {
        self.values
            .get(PLUGIN_DIR)
            .map(|v| v.iter().map(PathBuf::from).collect())
            .unwrap_or_default()
    }
}

/// Scans argv for the early options, in `--opt value` and `--opt=value` form, anywhere.
pub fn scan(args: &[OsString]) -> EarlyOptions {
    let mut out = EarlyOptions::default();
    let early: Vec<&'static GlobalOption> = GLOBAL_OPTIONS
        .iter()
        .filter(|g| g.early && matches!(g.kind, GlobalKind::Value | GlobalKind::Append))
        .collect();
    let mut iter = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let Some(option) = name
            .strip_prefix("--")
            .and_then(|long| early.iter().find(|g| g.long == long))
        else {
            continue;
        };
        let Some(value) = inline.or_else(|| iter.next()) else {
            continue;
        };
        if !option.choices.is_empty() && !option.choices.contains(&value.as_str()) {
            continue;
        }
        out.values.entry(option.long).or_default().push(value);
    }
    out
}

/// The first command word of argv: the first word after the global options and their values,
/// when every word before it is a global option this scan can place and no help or version is
/// asked for. `None` means that clap must see the whole command tree: no command word, `help`,
/// `-h`/`--help` anywhere before `--`, `-V`, or a word before the command that only clap can
/// judge (an unknown option, a value outside an option's choices), whose error text and "did
/// you mean" hints draw on every command.
pub fn command_word(args: &[OsString]) -> Option<String> {
    let mut words = args.iter().skip(1).map(|a| a.to_str());
    let mut command = None;
    while let Some(word) = words.next() {
        let Some(word) = word else {
            if command.is_some() {
                continue;
            }
            return None;
        };
        if word == "--" {
            break;
        }
        if matches!(word, "-h" | "--help") {
            return None;
        }
        if command.is_some() {
            continue;
        }
        if !word.starts_with('-') || word == "-" {
            if word == "help" {
                return None;
            }
            command = Some(word.to_string());
            continue;
        }
        if word.len() > 1 && word[1..].bytes().all(|b| b == b'v') {
            continue; // -v, -vv, ...
        }
        let (long, inline) = match word.strip_prefix("--")?.split_once('=') {
            Some((long, value)) => (long, Some(value)),
            None => (word.strip_prefix("--")?, None),
        };
        let option = GLOBAL_OPTIONS.iter().find(|g| g.long == long)?;
        match option.kind {
            GlobalKind::Count if inline.is_none() => {}
            GlobalKind::Value | GlobalKind::Append => {
                let value = match inline {
                    Some(v) => v,
                    None => words.next()??,
                };
                let fits = option.choices.is_empty() || option.choices.contains(&value);
                if !fits || (inline.is_none() && value.starts_with('-')) {
                    return None;
                }
            }
            GlobalKind::Count | GlobalKind::Version => return None,
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word_of(argv: &[&str]) -> Option<String> {
        let args: Vec<OsString> = argv.iter().map(OsString::from).collect();
        command_word(&args)
    }

    #[test]
    fn the_command_word_comes_after_global_options_and_their_values() {
        assert_eq!(word_of(&["maqet", "ls"]).as_deref(), Some("ls"));
        assert_eq!(
            word_of(&[
                "maqet",
                "--format",
                "json",
                "-vv",
                "--log-file=/l",
                "qmp",
                "vm",
                "x"
            ])
            .as_deref(),
            Some("qmp")
        );
        assert_eq!(
            word_of(&[
                "maqet",
                "--maqet-data-dir",
                "/d",
                "--verbose",
                "snapshot",
                "-v"
            ])
            .as_deref(),
            Some("snapshot")
        );
        assert_eq!(
            word_of(&["maqet", "exec", "vm", "--", "ls", "--help"]).as_deref(),
            Some("exec")
        );
    }

    #[test]
    fn help_version_and_words_only_clap_can_judge_need_the_whole_tree() {
        for argv in [
            &["maqet"][..],
            &["maqet", "help", "ls"],
            &["maqet", "ls", "--help"],
            &["maqet", "-h"],
            &["maqet", "-V", "ls"],
            &["maqet", "--bogus", "ls"],
            &["maqet", "--format", "xml", "ls"],
            &["maqet", "--format=", "ls"],
            &["maqet", "--log-file", "--format", "ls"],
            &["maqet", "--format"],
            &["maqet", "-vx", "ls"],
            &["maqet", "--", "ls"],
        ] {
            assert_eq!(word_of(argv), None, "{argv:?}");
        }
    }

    #[test]
    fn finds_options_anywhere_in_both_forms() {
        let args: Vec<OsString> = [
            "maqet",
            "ls",
            "--maqet-data-dir=/d",
            "--plugin-dir",
            "/p1",
            "--plugin-dir=/p2",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        let early = scan(&args);
        assert_eq!(early.data_dir(), Some(PathBuf::from("/d")));
        assert_eq!(
            early.plugin_dirs(),
            vec![PathBuf::from("/p1"), PathBuf::from("/p2")]
        );
    }
}
