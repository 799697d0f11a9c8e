//! Reading the few global options needed before the command tree can be built.

use std::ffi::OsString;
use std::path::PathBuf;

/// Global options that decide where maqet looks for things.
#[derive(Debug, Default, Clone)]
pub struct EarlyOptions {
    /// `--maqet-data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--maqet-config-dir`.
    pub config_dir: Option<PathBuf>,
    /// `--maqet-runtime-dir`.
    pub runtime_dir: Option<PathBuf>,
    /// `--plugin-dir`, repeatable.
    pub plugin_dirs: Vec<PathBuf>,
    /// `--format`, when it names an output format.
    pub format: Option<String>,
}

const FORMATS: &[&str] = &["auto", "json", "yaml", "table", "plain"];

/// Scans argv for the options above, in `--opt value` and `--opt=value` form, anywhere.
pub fn scan(args: &[OsString]) -> EarlyOptions {
    let mut out = EarlyOptions::default();
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
        let value = |iter: &mut dyn Iterator<Item = String>| inline.clone().or_else(|| iter.next());
        match name.as_str() {
            "--maqet-data-dir" => out.data_dir = value(&mut iter).map(PathBuf::from),
            "--maqet-config-dir" => out.config_dir = value(&mut iter).map(PathBuf::from),
            "--maqet-runtime-dir" => out.runtime_dir = value(&mut iter).map(PathBuf::from),
            "--format" => {
                if let Some(v) = value(&mut iter).filter(|v| FORMATS.contains(&v.as_str())) {
                    out.format = Some(v);
                }
            }
            "--plugin-dir" => {
                if let Some(v) = value(&mut iter) {
                    out.plugin_dirs.push(PathBuf::from(v));
                }
            }
            _ => {}
        }
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
        assert_eq!(early.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(
            early.plugin_dirs,
            vec![PathBuf::from("/p1"), PathBuf::from("/p2")]
        );
    }
}
