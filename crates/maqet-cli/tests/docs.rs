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

#[test]
fn every_registered_command_is_linked_into_the_cli() {
    // The inventory pitfall: registrations in a crate the binary never refers to vanish.
    // maqet-core is linked through maqet-cli, so its commands must all be present.
    let names: Vec<String> = maqet_core::registry::methods()
        .iter()
        .map(|m| m.path())
        .collect();
    for expected in [
        "add",
        "apply",
        "ls",
        "rm",
        "info",
        "status",
        "start",
        "stop",
        "qmp keys",
        "config validate",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "`{expected}` missing from {names:?}"
        );
    }
    assert_eq!(maqet_core::linked_command_count(), names.len());
}
