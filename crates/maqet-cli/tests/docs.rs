//! The generated docs in docs/ must match the code. Set MAQET_UPDATE_DOCS=1 to rewrite them.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

fn check(name: &str, generated: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name);
    if std::env::var_os("MAQET_UPDATE_DOCS").is_some() {
        std::fs::write(&path, generated).expect("write doc");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/{name} is stale: run `MAQET_UPDATE_DOCS=1 cargo test -p maqet-cli --test docs`"
    );
}

#[test]
fn cli_reference_is_current() {
    check(
        "cli-reference.md",
        &maqet_cli::reference::cli_reference_markdown(),
    );
}

#[test]
fn configuration_reference_is_current() {
    check(
        "configuration.md",
        &maqet_core::config::docs::configuration_markdown(),
    );
}

/// The `#[api_method]` attributes written in maqet-core's sources.
fn api_methods_in_core_sources() -> usize {
    fn walk(dir: &std::path::Path, count: &mut usize) {
        for entry in std::fs::read_dir(dir).expect("read maqet-core/src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, count);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                *count += text
                    .lines()
                    .filter(|l| l.trim_start().starts_with("#[api_method"))
                    .count();
            }
        }
    }
    let mut count = 0;
    walk(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../maqet-core/src"),
        &mut count,
    );
    count
}

#[test]
fn every_registered_command_is_linked_into_the_cli() {
    // The inventory pitfall: registrations in a crate the binary never refers to vanish. Every
    // `#[api_method]` written in maqet-core must be in the registry this binary sees.
    let written = api_methods_in_core_sources();
    assert!(
        written > 20,
        "found only {written} #[api_method] in maqet-core/src"
    );
    assert_eq!(
        maqet_core::linked_command_count(),
        written,
        "the registry holds {} commands, maqet-core's sources declare {written}",
        maqet_core::linked_command_count()
    );
}

#[test]
fn every_registered_command_is_in_the_cli_reference_and_the_help() {
    let reference = maqet_cli::reference::cli_reference_markdown();
    let tree = maqet_cli::builtin_tree();
    for method in maqet_core::registry::methods() {
        if method.hidden {
            continue;
        }
        let path = method.path();
        assert!(
            reference.contains(&format!("### `maqet {path}`")),
            "`maqet {path}` missing from docs/cli-reference.md"
        );
        let mut words = path.split(' ');
        let mut cmd = tree
            .find_subcommand(words.next().unwrap_or_default())
            .unwrap_or_else(|| panic!("`{path}` missing from the command tree"));
        for word in words {
            cmd = cmd
                .find_subcommand(word)
                .unwrap_or_else(|| panic!("`{path}` missing from the command tree"));
        }
        for param in method
            .params
            .iter()
            .filter(|p| !p.possible_values.is_empty())
        {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id() == param.name)
                .unwrap_or_else(|| panic!("`{path}` has no argument `{}`", param.name));
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect();
            assert_eq!(
                values, param.possible_values,
                "choices of `{path} {}`",
                param.name
            );
        }
    }
    for group in maqet_core::registry::groups() {
        assert!(
            tree.find_subcommand(group.0).is_some(),
            "group `{}` missing from the command tree",
            group.0
        );
    }
    assert_eq!(maqet_core::registry::check_groups(), Vec::<String>::new());
}
