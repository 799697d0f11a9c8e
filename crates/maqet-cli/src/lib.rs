//! The `maqet` command-line interface.
//!
//! The command tree is built at run time from the `#[api_method]` registry of `maqet-core` and
//! from loaded plugins, so built-in and plugin commands parse, print and complete alike.
//!
//! ```no_run
//! // The binary is a thin wrapper around this:
//! let code = maqet_cli::run(vec!["maqet".into(), "ls".into(), "--format".into(), "json".into()]);
//! std::process::exit(code);
//! ```

mod cli_commands;
mod commands;
mod globals;
mod hints;
mod invoke;
mod lazy_log;
mod output;
mod plugins;
mod prescan;
mod progress;
pub mod python_face;
pub mod reference;
mod report;
mod terminal;
mod tree;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::mem::ManuallyDrop;

use clap::ArgMatches;
use clap::error::ErrorKind as ClapErrorKind;

use commands::{CliCommand, CommandDef, Origin};
use maqet_core::dirs::{DirOverrides, Dirs};
use maqet_core::registry::{self, Args, Output};
use maqet_core::settings::Settings;
use maqet_core::{ErrorKind, Maqet, MaqetError};
use output::Format;

/// Runs the CLI with these arguments (the first is the program name) and returns the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    if globals::is_version_request(args.get(1..).unwrap_or_default()) {
        return write_stdout(&format!("maqet {}\n", env!("CARGO_PKG_VERSION")));
    }
    if maqet_core::linked_command_count() == 0 {
        eprintln!(
            "error: this maqet binary was linked without its commands; rebuild it from the workspace"
        );
        return 1;
    }
    let early = prescan::scan(&args);
    let settings = match Settings::discover(early.config_dir().as_deref()) {
        Ok(s) => s,
        Err(e) => return report::error(&e),
    };
    let overrides = DirOverrides {
        data: early.data_dir(),
        config: early.config_dir(),
        runtime: early.runtime_dir(),
    };
    let dirs = Dirs::resolve(&overrides, &settings);
    // Only the command typed is built into the tree, and plugins are loaded only when the
    // command is not a registry one (plugins cannot take a registry command's name or group).
    let word = prescan::command_word(&args);
    let registry_top = word.as_deref().and_then(commands::registry_top_word);
    let plugins = match registry_top {
        Some(_) => plugins::PluginSet::default(),
        None => plugins::PluginSet::load(&dirs, &early.plugin_dirs()),
    };
    let plugin_defs = plugins.command_defs();
    let cli_defs = cli_commands::cli_commands();
    let top: Option<String> = registry_top.map(str::to_string).or_else(|| {
        let word = word.as_deref()?;
        cli_defs
            .iter()
            .chain(&plugin_defs)
            .find(|def| def.answers_to(word) && !needs_whole_tree(def))
            .map(|def| def.top_word().to_string())
    });
    let mut commands = commands::builtin_commands(&settings, top.as_deref());
    commands.extend(plugin_defs);
    commands.extend(cli_defs);
    let mut groups = commands::all_groups(&plugins.groups(), top.as_deref());
    if let Some(top) = &top {
        commands.retain(|def| def.top_word() == top);
        groups.retain(|(group, _)| group == top);
    }
    // The tree, the definitions and the matches live until the process exits; dropping them
    // would only spend time (about 0.1 M instructions) just before `exit`.
    let commands = ManuallyDrop::new(commands);
    let (cli, matches) = match parse(&commands, &groups, &args, top.is_some()) {
        Ok(parsed) => parsed,
        Err(e) => {
            let code = match e.kind() {
                ClapErrorKind::DisplayHelp
                | ClapErrorKind::DisplayVersion
                | ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 3,
            };
            let _ = e.print();
            if code == 3 {
                print_hint(&args, &commands, Some(&e));
            }
            return code;
        }
    };
    let (cli, matches) = (ManuallyDrop::new(cli), ManuallyDrop::new(matches));
    let format = Format::parse(
        matches
            .get_one::<String>(globals::FORMAT)
            .map_or("auto", String::as_str),
    );
    let _log_guard = report::init_logging(
        matches
            .get_count(globals::VERBOSE)
            .saturating_add(settings.verbosity.unwrap_or(0)),
        matches
            .get_one::<String>(globals::LOG_FILE)
            .map(std::path::PathBuf::from)
            .or_else(|| settings.log_file.clone()),
    );
    plugins.log_rejections();

    let Some((name, sub)) = matches.subcommand() else {
        return 3;
    };
    let Some((def, leaf)) = find_command(&commands, name, sub) else {
        return 3;
    };
    match def.origin {
        Origin::Cli(CliCommand::Completions) => {
            return print_completions(ManuallyDrop::into_inner(cli), leaf);
        }
        Origin::Cli(CliCommand::Man) => return print_man(ManuallyDrop::into_inner(cli)),
        Origin::Cli(CliCommand::PluginList) => {
            return print_result(&plugins.list_output(), format);
        }
        Origin::Cli(CliCommand::Help) => return 0,
        Origin::Builtin(_) | Origin::Plugin(_) => {}
    }
    let maqet = match Maqet::builder()
        .settings(settings)
        .data_dir(dirs.data.clone())
        .config_dir(dirs.config.clone())
        .runtime_dir(dirs.runtime.clone())
        .build()
    {
        Ok(m) => m,
        Err(e) => return report::error(&e),
    };
    let (maqet, spinner) = progress::attach(&maqet, format);
    let result = invoke::arguments(def, leaf).and_then(|args| {
        confirm(def, &args)?;
        match def.origin {
            Origin::Builtin(method) => {
                let mut args = Args::new(&def.path(), args)?;
                (method.invoke)(&maqet, &mut args)
            }
            Origin::Plugin(index) => plugins.invoke(index, &def.name, args, &maqet),
            Origin::Cli(_) => Ok(Output::new(())),
        }
    });
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    match result {
        Ok(Output {
            stream: Some(stream),
            ..
        }) => match terminal::attach(&stream) {
            Ok(()) => 0,
            Err(e) => report::error(&e),
        },
        Ok(Output {
            exec: Some(argv), ..
        }) if format == Format::Auto => exec_program(&argv),
        Ok(output) => {
            // Like the tree above: freeing the result (for `ls` of 1,000 VMs, 2,000 strings;
            // about 0.37 M instructions) would only spend time just before `exit`.
            let output = ManuallyDrop::new(output);
            print_result(&output, format)
        }
        Err(e) => {
            let code = report::error(&e);
            if e.kind() == ErrorKind::InvalidInput {
                print_hint(&args, &commands, None);
            }
            code
        }
    }
}

/// Prints a hint after a usage error when one of the slips [`hints`] knows fits.
fn print_hint(args: &[OsString], commands: &[CommandDef], clap_error: Option<&clap::Error>) {
    if let Some(hint) = hints::for_usage_error(args, commands, clap_error) {
        eprintln!("hint: {hint}");
    }
}

/// Parses `args` with the tree of `commands` (under `groups`), kept in place (not copied) for
/// `completions` and `man`. With `narrow` (one top-level command typed), a group first gets
/// only the children whose name or alias is a word of `args`: clap matches subcommand names
/// exactly, so no other child can be reached. A parse that fails is redone with every child,
/// so that clap's error text and "did you mean" hints stay those of the whole group.
fn parse(
    commands: &[CommandDef],
    groups: &[(String, String)],
    args: &[OsString],
    narrow: bool,
) -> Result<(clap::Command, ArgMatches), clap::Error> {
    let all: Vec<&CommandDef> = commands.iter().collect();
    let typed = |word: &str| args.iter().any(|a| a.as_os_str() == word);
    // `help` reaches a group's generated help subcommand, which exists only with children.
    if narrow && !typed("help") {
        let reachable: Vec<&CommandDef> = all
            .iter()
            .copied()
            .filter(|def| {
                def.group.is_none() || typed(&def.name) || def.aliases.iter().any(|a| typed(a))
            })
            .collect();
        if reachable.len() < all.len() && !reachable.is_empty() {
            let mut cli = tree::build(&reachable, groups);
            if let Ok(matches) = cli.try_get_matches_from_mut(args) {
                return Ok((cli, matches));
            }
        }
    }
    let mut cli = tree::build(&all, groups);
    let matches = cli.try_get_matches_from_mut(args)?;
    Ok((cli, matches))
}

/// Whether running `def` needs the whole command tree (`completions` and `man` describe it,
/// clap's `help` lists it).
fn needs_whole_tree(def: &CommandDef) -> bool {
    matches!(
        def.origin,
        Origin::Cli(CliCommand::Completions | CliCommand::Man | CliCommand::Help)
    )
}

fn find_command<'a>(
    commands: &'a [CommandDef],
    name: &str,
    sub: &'a ArgMatches,
) -> Option<(&'a CommandDef, &'a ArgMatches)> {
    if let Some((child, child_matches)) = sub.subcommand()
        && let Some(def) = commands
            .iter()
            .find(|c| c.group.as_deref() == Some(name) && c.name == child)
    {
        return Some((def, child_matches));
    }
    commands
        .iter()
        .find(|c| c.group.is_none() && (c.name == name || c.aliases.iter().any(|a| a == name)))
        .map(|def| (def, sub))
}

/// Asks the questions of the flags set (`rm --all`) on a terminal, by the rule every face
/// shares (`maqet_core::registry::confirm_flags`); without a terminal the command runs.
fn confirm(def: &CommandDef, args: &serde_json::Value) -> Result<(), MaqetError> {
    let params = def
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.confirm.as_deref(), p.answers_yes));
    let questions = registry::pending_questions(params, args);
    let mut ask = |prompt: &str| -> Result<String, MaqetError> {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        Ok(answer)
    };
    let terminal: Option<registry::Ask<'_, MaqetError>> = if std::io::stdin().is_terminal() {
        Some(&mut ask)
    } else {
        None
    };
    registry::confirm_flags(
        &def.path(),
        &questions,
        terminal,
        registry::WithoutTerminal::Proceed,
        "--force",
    )
}

fn print_result(output: &Output, format: Format) -> i32 {
    if let (Some(pass), Format::Auto) = (&output.passthrough, format) {
        if let Err(e) = write_and_flush(&mut std::io::stdout().lock(), &pass.stdout) {
            return report::error(&output_error(e));
        }
        let _ = std::io::stderr().lock().write_all(&pass.stderr);
        return pass.exit_code;
    }
    let written = match output::render(output, format) {
        Some(text) => write_stdout(&format!("{text}\n")),
        None => 0,
    };
    if written != 0 {
        return written;
    }
    output.passthrough.as_ref().map_or(0, |p| p.exit_code)
}

/// Writes `text` to stdout and flushes it; a full disk or a closed pipe is an error (exit 1),
/// never a silently truncated result.
fn write_stdout(text: &str) -> i32 {
    match write_and_flush(&mut std::io::stdout().lock(), text.as_bytes()) {
        Ok(()) => 0,
        Err(e) => report::error(&output_error(e)),
    }
}

fn write_and_flush(out: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// The error for output that could not be written.
pub(crate) fn output_error(err: std::io::Error) -> MaqetError {
    MaqetError::io(
        "cannot write the output to stdout (full disk or closed pipe?); the command itself ran",
        err,
    )
}

/// Renders into memory, then writes it all to stdout.
fn write_rendered(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> i32 {
    let mut buffer = Vec::new();
    if let Err(e) = render(&mut buffer) {
        return report::error(&MaqetError::io("cannot render the output", e));
    }
    match write_and_flush(&mut std::io::stdout().lock(), &buffer) {
        Ok(()) => 0,
        Err(e) => report::error(&output_error(e)),
    }
}

fn print_completions(mut cli: clap::Command, matches: &ArgMatches) -> i32 {
    let name = matches
        .get_one::<String>("shell")
        .map_or("", String::as_str);
    match completion_script(&mut cli, name) {
        Ok(script) => write_stdout(&script),
        Err(e) => report::error(&e),
    }
}

/// The completion script of `cli` for the shell named `shell` (`bash`, `zsh`, ...).
fn completion_script(cli: &mut clap::Command, shell: &str) -> Result<String, MaqetError> {
    use clap::ValueEnum;
    let Ok(shell) = clap_complete::Shell::from_str(shell, false) else {
        return Err(MaqetError::invalid(format!(
            "unknown shell `{shell}`; use one of {}",
            cli_commands::shell_names().join(", ")
        )));
    };
    let mut buffer = Vec::new();
    clap_complete::generate(shell, cli, "maqet", &mut buffer);
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

/// The command tree of every registered command and the CLI's own (no plugins, no
/// `maqet.conf`), as `maqet --help` shows it.
pub fn builtin_tree() -> clap::Command {
    let mut commands = commands::builtin_commands(&Settings::default(), None);
    commands.extend(cli_commands::cli_commands());
    let all: Vec<&CommandDef> = commands.iter().collect();
    tree::build(&all, &commands::all_groups(&[], None))
}

/// The completion script `maqet completions SHELL` prints, for [`builtin_tree`].
pub fn builtin_completion_script(shell: &str) -> Result<String, MaqetError> {
    completion_script(&mut builtin_tree(), shell)
}

fn print_man(cli: clap::Command) -> i32 {
    let man = clap_mangen::Man::new(cli);
    write_rendered(|out| man.render(out))
}

/// Runs `argv` in place of this process (`maqet ssh`): the program gets the terminal, and its
/// exit code is maqet's. Returns only when it cannot be started.
fn exec_program(argv: &[String]) -> i32 {
    use std::os::unix::process::CommandExt;
    let Some((program, args)) = argv.split_first() else {
        return 0;
    };
    let err = std::process::Command::new(program).args(args).exec();
    report::error(&MaqetError::with_source(
        ErrorKind::Failure,
        format!("cannot run `{program}`; install it (Debian: openssh-client for ssh)"),
        err,
    ))
}
