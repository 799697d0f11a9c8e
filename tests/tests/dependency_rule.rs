//! The layering rule of docs/architecture.md, checked on the real dependency graph.
//!
//! `cargo metadata` lists what each workspace package depends on. A maqet crate may depend
//! only on crates below it in the order
//! `cli > py > core > {macros, runner, plugins} > export-render > config >
//! {qmp, storage, state, seed, plugin-api} > {error-chain, command, command-derive}`;
//! `maqet-state`, `maqet-qmp`, `maqet-storage`, `maqet-seed` and `maqet-screen` depend on no
//! maqet crate,
//! `maqet-config` only on the storage and seed leaves, and `maqet-plugin-api` only on the
//! error-chain and command-model leaves. Plugins sit above the plugin API and may use nothing
//! of the host but it (and the plain libraries `export-render`, `maqet-config` and
//! `maqet-seed`).
//!
//! crates/README.md lists every package with its maqet dependencies; that table must be
//! exactly what `cargo metadata` says (no package or edge missing, none invented), and
//! docs/architecture.md must name every package.
//!
//! Dev-dependencies are not checked: they only build test fixtures (plugin libraries a test
//! loads) and are not linked into the crate.

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// `cargo metadata` of the workspace (its own packages only).
fn cargo_metadata() -> Value {
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
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Each workspace package's maqet dependencies (normal and build), by package name.
fn maqet_dependencies() -> BTreeMap<String, Vec<String>> {
    let metadata = cargo_metadata();
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
        "maqet-tests" => 8,
        "maqet-cli" => 7,
        "maqet-py" => 6,
        "maqet-core" => 5,
        "maqet-macros" | "maqet-runner" => 4,
        name if name.starts_with("maqet-plugin-") && name != "maqet-plugin-api" => 4,
        // A plain library two plugins share; it reads VM configs through `maqet-config`.
        "maqet-export-render" => 3,
        // The typed VM config, on the drive model of storage and the identity checks of seed.
        "maqet-config" => 2,
        "maqet-qmp" | "maqet-storage" | "maqet-state" | "maqet-plugin-api" | "maqet-seed"
        | "maqet-screen" => 1,
        // A leaf with no dependencies: the one error-chain formatter every layer may use.
        // Leaves with no maqet dependencies: the one error-chain formatter and the one command
        // model (parameter kinds) every layer may use.
        "maqet-error-chain" | "maqet-command" | "maqet-command-derive" => 0,
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
                "{package} has no place in the layering (add it to `layer` here, to \
                 crates/README.md and to docs/architecture.md)"
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
    // only the dependency-free leaves it re-exports to plugins (error chain, command model).
    for (package, allowed) in [
        ("maqet-state", &[][..]),
        ("maqet-qmp", &[][..]),
        ("maqet-storage", &[][..]),
        ("maqet-seed", &[][..]),
        ("maqet-config", &["maqet-storage", "maqet-seed"][..]),
        (
            "maqet-plugin-api",
            &["maqet-command", "maqet-command-derive", "maqet-error-chain"][..],
        ),
        ("maqet-screen", &[][..]),
        ("maqet-error-chain", &[][..]),
        ("maqet-command", &[][..]),
        ("maqet-command-derive", &[][..]),
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

/// The table of crates/README.md: each package's path and its maqet dependencies, by name.
fn documented_packages() -> BTreeMap<String, (String, Vec<String>)> {
    let path = workspace_root().join("crates/README.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|line| line.starts_with("| `maqet-"))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(
                cells.len(),
                4,
                "crates/README.md: a row needs 4 cells: {row}"
            );
            let unquote = |cell: &str| cell.trim().trim_matches('`').to_owned();
            let deps = cells[3]
                .split(',')
                .map(unquote)
                .filter(|dep| !dep.is_empty() && dep != "—")
                .collect();
            (unquote(cells[0]), (unquote(cells[1]), deps))
        })
        .collect()
}

/// Each workspace package's directory, relative to the workspace root.
fn package_paths() -> BTreeMap<String, String> {
    let root = workspace_root();
    let metadata = cargo_metadata();
    metadata["packages"]
        .as_array()
        .expect("a package list")
        .iter()
        .map(|package| {
            let manifest = Path::new(package["manifest_path"].as_str().expect("a manifest path"));
            let dir = manifest
                .parent()
                .expect("a manifest sits in a directory")
                .strip_prefix(&root)
                .expect("workspace packages sit under the workspace root");
            let name = package["name"].as_str().expect("a package name").to_owned();
            (name, dir.display().to_string())
        })
        .collect()
}

#[test]
fn crates_readme_lists_every_package_and_its_real_maqet_dependencies() {
    let documented = documented_packages();
    let graph = maqet_dependencies();
    let paths = package_paths();
    let mut wrong = Vec::new();
    for (package, deps) in &graph {
        let Some((path, listed)) = documented.get(package) else {
            wrong.push(format!("{package} is in the workspace but has no row"));
            continue;
        };
        if paths.get(package) != Some(path) {
            wrong.push(format!(
                "{package}: the row says path `{path}`, cargo says `{}`",
                paths.get(package).map_or("?", String::as_str)
            ));
        }
        let real: BTreeSet<&String> = deps.iter().collect();
        let listed: BTreeSet<&String> = listed.iter().collect();
        for missing in real.difference(&listed) {
            wrong.push(format!(
                "{package} depends on {missing}, which its row does not list"
            ));
        }
        for extra in listed.difference(&real) {
            wrong.push(format!(
                "{package}'s row lists {extra}, which it does not depend on"
            ));
        }
    }
    for package in documented.keys().filter(|p| !graph.contains_key(*p)) {
        wrong.push(format!("{package} has a row but is not in the workspace"));
    }
    assert!(
        wrong.is_empty(),
        "crates/README.md disagrees with `cargo metadata`:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_architecture_map_names_every_package() {
    let path = workspace_root().join("docs/architecture.md");
    let map = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let missing: Vec<String> = maqet_dependencies()
        .into_keys()
        .filter(|package| !map.contains(&format!("`{package}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md does not name {missing:?} in its crate list"
    );
}
