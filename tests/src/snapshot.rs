//! Snapshots of what `maqet` prints: [`maqet_snapshot!`](crate::maqet_snapshot) and its filters.
//!
//! In the spirit of uv's `uv_snapshot!`: one macro runs the CLI in a [`MaqetHome`], replaces
//! what changes from run to run (the home's temporary path, VM ids, timestamps, PIDs,
//! durations) with placeholders, and snapshots the exit code, stdout and stderr together with
//! [insta]. A change in user-facing text then shows up as a diff to review.
//!
//! Accepting changed snapshots: `INSTA_UPDATE=always cargo test -p maqet-tests --test snapshots`
//! rewrites them in place (review with `git diff`), or `cargo insta test --review` with
//! cargo-insta. See docs/testing.md.

use std::process::Output;

use regex::Regex;

use crate::MaqetHome;

pub use insta;

/// Replacements applied, in order, to everything a snapshot records.
#[derive(Debug, Clone)]
pub struct Filters {
    rules: Vec<(Regex, String)>,
}

impl Filters {
    /// The filters for commands run in `home`: its paths, ids, timestamps, PIDs and durations.
    pub fn for_home(home: &MaqetHome) -> Self {
        let mut filters = Self { rules: Vec::new() };
        let root = home.path();
        let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        for path in [canonical, root.to_path_buf()] {
            filters = filters.literal(&path.to_string_lossy(), "[HOME]");
        }
        filters
            // Any other maqet test home (a second home in the same test).
            .regex(r"/tmp/maqet-test-[A-Za-z0-9_]+", "[HOME]")
            .regex(
                r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                "[ID]",
            )
            .regex(
                r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?",
                "[TIME]",
            )
            .regex(r"(?i)\b(pid)(:? +|=)\d+", "$1$2[PID]")
            .regex(r"\b\d+(\.\d+)? ?(ms|µs|us|ns)\b", "[DURATION]")
            .regex(r"\b\d+\.\d+ ?s\b", "[DURATION]")
    }

    /// Adds a replacement of `regex` (captures usable as `$1`) by `replacement`.
    ///
    /// # Panics
    /// When `regex` is not a valid regular expression.
    pub fn regex(mut self, regex: &str, replacement: &str) -> Self {
        let compiled =
            Regex::new(regex).unwrap_or_else(|e| panic!("bad snapshot filter `{regex}`: {e}"));
        self.rules.push((compiled, replacement.to_owned()));
        self
    }

    /// Adds a replacement of the exact text `text` (a PID, a size) by `replacement`.
    pub fn literal(self, text: &str, replacement: &str) -> Self {
        let escaped = regex::escape(text);
        let replacement = replacement.replace('$', "$$");
        self.regex(&escaped, &replacement)
    }

    /// Adds a replacement of `text` as a whole word (so `123` does not match inside `41234`).
    pub fn word(self, text: &str, replacement: &str) -> Self {
        let pattern = format!(r"\b{}\b", regex::escape(text));
        let replacement = replacement.replace('$', "$$");
        self.regex(&pattern, &replacement)
    }

    /// `text` with every rule applied.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (regex, replacement) in &self.rules {
            out = regex.replace_all(&out, replacement.as_str()).into_owned();
        }
        out
    }
}

/// What a snapshot records of a finished command: success, exit code, stdout and stderr.
pub fn render(out: &Output, filters: &Filters) -> String {
    let code = out
        .status
        .code()
        .map_or_else(|| format!("{:?}", out.status), |c| c.to_string());
    format!(
        "success: {}\nexit_code: {code}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        out.status.success(),
        filters.apply(&String::from_utf8_lossy(&out.stdout)),
        filters.apply(&String::from_utf8_lossy(&out.stderr)),
    )
}

/// Runs `maqet ARGS` in `home` with a fixed terminal width (help text wraps the same everywhere)
/// and no colour.
pub fn run(home: &MaqetHome, args: &[&str]) -> Output {
    let mut command = home.cmd();
    command.current_dir(home.path());
    run_command(command, args)
}

/// Runs `command` (a `maqet` command made by [`MaqetHome::cmd`], perhaps with more environment)
/// with `args` appended, the same fixed width and no colour.
pub fn run_command(mut command: assert_cmd::Command, args: &[&str]) -> Output {
    command
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("RUST_LOG")
        .args(args)
        .timeout(crate::cli::COMMAND_GUARD)
        .output()
        .expect("the maqet binary must run")
}

/// The command line a snapshot describes, as a user would type it.
pub fn command_line(args: &[&str], filters: &Filters) -> String {
    filters.apply(&format!("maqet {}", args.join(" ")))
}

/// Runs `maqet ARGS` in a [`MaqetHome`] and snapshots its exit code, stdout and stderr.
///
/// ```no_run
/// use maqet_tests::{MaqetHome, maqet_snapshot};
/// use maqet_tests::snapshot::Filters;
///
/// let home = MaqetHome::new();
/// // Named after the test function (`<file>__<test>.snap` in `tests/tests/snapshots/`).
/// maqet_snapshot!(home, &["ls"]);
/// // Named explicitly, for snapshots made in a loop.
/// maqet_snapshot!(name = "ls_empty", home, &["ls"]);
/// // With more filters than the home's defaults.
/// let filters = Filters::for_home(&home).word("4242", "[PID]");
/// maqet_snapshot!(filters = filters, home, &["ls"]);
/// // With a command of your own (more environment), still run in the home.
/// let command = home.cmd();
/// maqet_snapshot!(filters = Filters::for_home(&home), command = command, &["ls"]);
/// ```
#[macro_export]
macro_rules! maqet_snapshot {
    (name = $name:expr, filters = $filters:expr, $home:expr, $args:expr) => {{
        let filters: $crate::snapshot::Filters = $filters;
        let args: &[&str] = $args;
        let out = $crate::snapshot::run(&$home, args);
        $crate::maqet_snapshot!(@assert out, filters, args, $name)
    }};
    (filters = $filters:expr, command = $command:expr, $args:expr) => {{
        let filters: $crate::snapshot::Filters = $filters;
        let args: &[&str] = $args;
        let out = $crate::snapshot::run_command($command, args);
        $crate::maqet_snapshot!(@assert out, filters, args)
    }};
    (filters = $filters:expr, $home:expr, $args:expr) => {{
        let filters: $crate::snapshot::Filters = $filters;
        let args: &[&str] = $args;
        let out = $crate::snapshot::run(&$home, args);
        $crate::maqet_snapshot!(@assert out, filters, args)
    }};
    // The one assertion every form ends in: the command line as the description, the rendered
    // output as the snapshot (named, or named after the calling test).
    (@assert $out:ident, $filters:ident, $args:ident $(, $name:expr)?) => {{
        $crate::snapshot::insta::with_settings!({
            description => $crate::snapshot::command_line($args, &$filters),
            omit_expression => true,
        }, {
            $crate::snapshot::insta::assert_snapshot!(
                $($name,)?
                $crate::snapshot::render(&$out, &$filters)
            );
        });
        $out
    }};
    (name = $name:expr, $home:expr, $args:expr) => {
        $crate::maqet_snapshot!(
            name = $name,
            filters = $crate::snapshot::Filters::for_home(&$home),
            $home,
            $args
        )
    };
    ($home:expr, $args:expr) => {
        $crate::maqet_snapshot!(
            filters = $crate::snapshot::Filters::for_home(&$home),
            $home,
            $args
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_replace_paths_ids_times_pids_and_durations() {
        let home = MaqetHome::new();
        let root = home.path().display().to_string();
        let text = format!(
            "{root}/data/vms/0b6e3c1a-5f1e-4c8e-9d2a-7a1b2c3d4e5f at 2026-12-02T01:02:03.456Z \
             pid 4242 took 12ms and 3.5 s"
        );
        assert_eq!(
            Filters::for_home(&home).apply(&text),
            "[HOME]/data/vms/[ID] at [TIME] pid [PID] took [DURATION] and [DURATION]"
        );
    }

    #[test]
    fn word_filters_do_not_match_inside_longer_numbers() {
        let home = MaqetHome::new();
        let filters = Filters::for_home(&home).word("123", "[N]");
        assert_eq!(filters.apply("123 41234"), "[N] 41234");
    }
}
