//! Reading the global options marked `early` in [`GLOBAL_OPTIONS`] before the command tree can
//! be built (they decide where maqet looks for config, state and plugins).

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

#[cfg(test)]
mod tests {
    use super::*;

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
