//! `maqet --help` and the `--help` of every command and subcommand it lists.
//!
//! The commands are read from the help itself (its `Commands:` section, recursively), so a
//! command added to the registry, a plugin-free builtin like `completions`, or a new group's
//! subcommand is snapshotted with no edit here.

use maqet_tests::{MaqetHome, maqet_snapshot};

/// The command names of a help text's `Commands:` section (without clap's own `help`).
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim_end() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Snapshots `maqet PATH --help`, then the help of each command it lists; returns the
/// snapshot names.
fn snapshot_tree(home: &MaqetHome, path: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let name = if path.is_empty() {
        "help".to_owned()
    } else {
        format!("help_{}", path.join("_"))
    };
    let out = maqet_snapshot!(name = name.clone(), home, &args);
    assert!(out.status.success(), "maqet {args:?} failed");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut names = vec![name];
    for command in listed_commands(&help) {
        let mut sub = path.to_vec();
        sub.push(command);
        names.extend(snapshot_tree(home, &sub));
    }
    names
}

/// The help snapshots checked in (`snapshots/user_text__help__<name>.snap`), by name.
fn checked_in_help_snapshots() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/user_text/snapshots");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            file.strip_prefix("user_text__help__")
                .and_then(|rest| rest.strip_suffix(".snap"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn help_of_every_command() {
    let home = MaqetHome::new();
    let mut names = snapshot_tree(&home, &[]);
    // The top level alone lists more than twenty commands; a parse that found none would pass
    // with a single snapshot, so make sure the walk went down the tree.
    assert!(names.len() > 30, "only {} help texts found", names.len());
    // A command that is gone must take its snapshot with it.
    names.sort();
    let stale: Vec<String> = checked_in_help_snapshots()
        .into_iter()
        .filter(|file| !names.contains(file))
        .collect();
    assert!(
        stale.is_empty(),
        "help snapshots of commands maqet no longer has (delete them): {stale:?}"
    );
}

#[test]
fn the_command_list_is_read_from_the_commands_section() {
    let help = "Usage: maqet\n\nCommands:\n  add    Create\n  doctor Check the host\n  \
                clone  Copy a VM\n                wrapped text\n  help   Print\n\nOptions:\n  \
                -h, --help\n";
    assert_eq!(listed_commands(help), ["add", "doctor", "clone"]);
}
