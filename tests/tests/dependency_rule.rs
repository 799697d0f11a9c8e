//! The layering rule of docs/architecture.md, checked on the real dependency graph.
//!
//! `cargo metadata` lists what each workspace package depends on. A maqet crate may depend
//! only on crates below it in the order
//! `cli > py > core > {macros, runner} > {qmp, storage, state, plugin-api}`;
//! `maqet-state`, `maqet-qmp` and `maqet-storage` (and `maqet-plugin-api`) depend on no maqet
//! crate. Plugins sit above the plugin API and may use nothing of the host but it (and the
//! plain libraries `export-render` and `maqet-seed`, which depend on no maqet crate). Each crate's maqet dependencies must also be among those the
//! "May depend on" column of docs/architecture.md allows it.
//!
//! Dev-dependencies are not checked: they only build test fixtures (plugin libraries a test
//! loads) and are not linked into the crate.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// Each workspace package's maqet dependencies (normal and build), by package name.
fn maqet_dependencies() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .expect("cargo must run");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("a package list");
    packages
        .iter()
        .map(|package| {
            let name = package["name"].as_str().expect("a package name").to_owned();
            let deps = package["dependencies"]
                .as_array()
                .expect("a dependency list")
                .iter()
                .filter(|dep| dep["kind"].as_str() != Some("dev"))
                .filter_map(|dep| dep["name"].as_str())
                .filter(|dep| dep.starts_with("maqet"))
                .map(str::to_owned)
                .collect();
            (name, deps)
        })
        .collect()
}

/// The layer of a workspace package: a crate may depend only on lower layers.
fn layer(package: &str) -> Option<u8> {
    Some(match package {
        "maqet-tests" => 6,
        "maqet-cli" => 5,
        "maqet-py" => 4,
        "maqet-core" => 3,
        "maqet-macros" | "maqet-runner" => 2,
        name if name.starts_with("maqet-plugin-") && name != "maqet-plugin-api" => 2,
        "maqet-qmp"
        | "maqet-storage"
        | "maqet-state"
        | "maqet-plugin-api"
        | "maqet-seed"
        | "maqet-export-render" => 1,
        // A leaf with no dependencies: the one error-chain formatter every layer may use.
        "maqet-error-chain" => 0,
        _ => return None,
    })
}

#[test]
fn no_crate_depends_on_one_above_it() {
    let graph = maqet_dependencies();
    assert!(
        graph.contains_key("maqet-core"),
        "no maqet-core in {graph:?}"
    );
    let mut wrong = Vec::new();
    for (package, deps) in &graph {
        let Some(own) = layer(package) else {
            wrong.push(format!(
                "{package} has no place in the layering (add it to `layer` here and to \
                 docs/architecture.md)"
            ));
            continue;
        };
        for dep in deps {
            match layer(dep) {
                Some(theirs) if theirs < own => {}
                Some(_) => wrong.push(format!("{package} depends on {dep}, which is not below it")),
                None => wrong.push(format!("{package} depends on {dep}, which has no layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn state_qmp_storage_and_the_plugin_api_depend_on_no_maqet_crate() {
    let graph = maqet_dependencies();
    // (crate, the maqet crates it may use): state, qmp and storage none at all; the plugin API
    // only the dependency-free error-chain leaf, which it re-exports to plugins.
    for (package, allowed) in [
        ("maqet-state", &[][..]),
        ("maqet-qmp", &[][..]),
        ("maqet-storage", &[][..]),
        ("maqet-seed", &[][..]),
        ("maqet-plugin-api", &["maqet-error-chain"][..]),
        ("maqet-error-chain", &[][..]),
    ] {
        let deps = graph
            .get(package)
            .unwrap_or_else(|| panic!("{package} is not in the workspace"));
        let extra: Vec<&String> = deps
            .iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(extra.is_empty(), "{package} depends on {extra:?}");
    }
}

/// The "May depend on" column of docs/architecture.md's crate table, for `crates/*` rows.
fn documented_dependencies() -> BTreeMap<String, Vec<String>> {
    let path = workspace_root().join("docs/architecture.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|line| line.strip_prefix("| `crates/"))
        .filter_map(|row| {
            let (name, rest) = row.split_once('`')?;
            let allowed = rest.trim_end().trim_end_matches('|').rsplit('|').next()?;
            let allowed = allowed
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty() && *a != "—")
                .map(|a| format!("maqet-{a}"))
                .collect();
            Some((name.to_owned(), allowed))
        })
        .collect()
}

#[test]
fn every_crate_depends_only_on_what_docs_architecture_allows() {
    let documented = documented_dependencies();
    assert!(
        documented.len() >= 9,
        "the crate table of docs/architecture.md was not found: {documented:?}"
    );
    let graph = maqet_dependencies();
    for (package, allowed) in &documented {
        let deps = graph.get(package).unwrap_or_else(|| {
            panic!("docs/architecture.md lists {package}, not in the workspace")
        });
        for dep in deps {
            assert!(
                allowed.contains(dep),
                "{package} depends on {dep}; docs/architecture.md allows only {allowed:?}"
            );
        }
    }
}
