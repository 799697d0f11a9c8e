//! A plugin command declared with `#[derive(Request)]` (the shipped `hello`) reads its
//! arguments through the same readers as a built-in command: a bad duration or an unknown
//! choice is refused with the built-in's words and exit code, and good ones arrive typed.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use maqet_tests::MaqetHome;
use maqet_tests::cli::{fails_with, json_of, maqet, plugin_library};

/// A home with the `hello` plugin installed in its plugin directory.
fn home_with_hello() -> MaqetHome {
    let home = MaqetHome::new();
    let dir = home.data_dir().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(plugin_library("maqet_hello"), dir.join("libmaqet_hello.so")).unwrap();
    home
}

/// The report on stderr from the sentence about the option on: that sentence and its causes
/// (a plugin's failure is the cause of "plugin `hello` could not complete `hello`").
fn sentence_about_option(stderr: &str) -> String {
    let from = stderr
        .find("`--")
        .unwrap_or_else(|| panic!("the error names no option: {stderr}"));
    stderr[from..].trim_end().to_owned()
}

#[test]
fn a_bad_duration_is_refused_by_a_plugin_as_by_a_built_in() {
    let home = home_with_hello();
    // The built-in reads `--timeout` before it looks for the VM.
    let builtin = fails_with(&home, &["stop", "no-such-vm", "--timeout", "soon"], 3);
    let plugin = fails_with(&home, &["hello", "world", "--wait", "soon"], 3);
    let builtin = sentence_about_option(&builtin);
    let plugin = sentence_about_option(&plugin);
    assert!(
        builtin.starts_with("`--timeout` must be a number of seconds or a duration"),
        "{builtin}"
    );
    assert_eq!(plugin, builtin.replacen("`--timeout`", "`--wait`", 1));

    // Out of range: the same refusal too.
    let builtin = fails_with(&home, &["stop", "no-such-vm", "--timeout=-1"], 3);
    let plugin = fails_with(&home, &["hello", "world", "--wait=-1"], 3);
    assert_eq!(
        sentence_about_option(&plugin),
        sentence_about_option(&builtin).replacen("`--timeout`", "`--wait`", 1)
    );
}

#[test]
fn an_unknown_choice_is_refused_by_a_plugin_as_by_a_built_in() {
    let home = home_with_hello();
    let builtin = maqet(&home, &["ls", "--status", "asleep"]);
    let plugin = maqet(&home, &["hello", "world", "--style", "loud"]);
    assert_eq!(plugin.status.code(), builtin.status.code());
    assert_ne!(plugin.status.code(), Some(0));
    let builtin = String::from_utf8_lossy(&builtin.stderr).into_owned();
    let plugin = String::from_utf8_lossy(&plugin.stderr).into_owned();
    assert!(
        builtin.contains("invalid value 'asleep' for '--status <STATUS>'"),
        "{builtin}"
    );
    assert!(
        plugin.contains("invalid value 'loud' for '--style <STYLE>'"),
        "{plugin}"
    );
    assert!(
        plugin.contains("[possible values: plain, shout]"),
        "{plugin}"
    );
}

#[test]
fn good_values_arrive_typed() {
    let home = home_with_hello();
    let answer = json_of(
        &home,
        &[
            "hello", "world", "--style", "shout", "--wait", "50ms", "--format", "json",
        ],
    );
    assert_eq!(answer["greeting"], "HELLO WORLD");
    let help = maqet(&home, &["hello", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for shown in [
        "--style <STYLE>",
        "[default: plain]",
        "--wait <WAIT>",
        "Who to greet",
    ] {
        assert!(help.contains(shown), "{shown} not in {help}");
    }
}
