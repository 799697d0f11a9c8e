//! When maturin builds the wheel, also builds `maqet-runner` and the `maqet` CLI and puts them in
//! `python/maqet/bin/`, so the installed package starts VMs with nothing else on `PATH`, and
//! the shipped plugins into `python/maqet/plugins/`, where the `maqet` binary of the package
//! looks for them (`bin/../plugins`, see `maqet_plugin_api::host::shipped_dirs`).
//!
//! maturin only compiles the extension module, so this script runs a nested `cargo build` of the
//! two binaries with the same profile, in a target directory of its own (the outer build holds
//! the lock on the workspace's). Outside maturin (a plain `cargo build --workspace`) it does
//! nothing: the binding then finds the runner like the CLI does.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const BINARIES: [&str; 2] = ["maqet-runner", "maqet"];
/// The shipped plugins: cargo package, and the library file it builds.
const PLUGINS: [(&str, &str); 3] = [
    ("maqet-plugin-cloud-init", "libmaqet_cloud_init.so"),
    ("maqet-plugin-export", "libmaqet_export.so"),
    ("maqet-plugin-libvirt", "libmaqet_libvirt.so"),
];

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

// A build script reports a broken build environment by panicking; cargo shows the message.
#[allow(clippy::expect_used)]
fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_BUILD_EXTENSION_MODULE");
    println!("cargo:rerun-if-changed=build.rs");
    if env::var_os("PYO3_BUILD_EXTENSION_MODULE").is_none() {
        return;
    }
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest
        .parent()
        .and_then(Path::parent)
        .expect("crates/maqet-py sits two levels below the workspace root")
        .to_path_buf();
    for watched in ["crates", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let bin_dir = root.join("python").join("maqet").join("bin");
    let plugin_dir = root.join("python").join("maqet").join("plugins");
    for name in BINARIES {
        // A deleted copy makes cargo run this script again.
        println!("cargo:rerun-if-changed={}", bin_dir.join(name).display());
    }
    for (_, file) in PLUGINS {
        println!("cargo:rerun-if-changed={}", plugin_dir.join(file).display());
    }
    let release = env::var("PROFILE").map(|p| p == "release").unwrap_or(false);
    // The outer build's target dir holds a lock; build beside it, in the workspace's own target
    // dir when the outer build uses another one (its binaries are then reused as they are).
    let workspace_target = root.join("target");
    let outer_target = env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .and_then(|out| out.ancestors().nth(4).map(Path::to_path_buf));
    let target_dir = match outer_target {
        Some(outer) if !same_dir(&outer, &workspace_target) => workspace_target,
        _ => workspace_target.join("maqet-py-bins"),
    };
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&root)
        .args(["build", "-p", "maqet-runner", "-p", "maqet-cli"])
        .args(PLUGINS.iter().flat_map(|(package, _)| ["-p", package]))
        .arg("--target-dir")
        .arg(&target_dir);
    if release {
        build.arg("--release");
    }
    // The variables cargo sets for this build script describe maqet-py, not the nested build.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let describes_this_crate = key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("DEP_")
            || key.starts_with("PYO3_")
            || matches!(
                key.as_str(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_TARGET_DIR"
                    | "OUT_DIR"
                    | "TARGET"
                    | "HOST"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "RUSTC_LINKER"
            );
        if describes_this_crate {
            build.env_remove(&key);
        }
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build maqet-runner and maqet: {e}"));
    assert!(
        status.success(),
        "building maqet-runner and maqet for the wheel failed ({status}); see the cargo output above"
    );
    let profile_dir = target_dir.join(if release { "release" } else { "debug" });
    std::fs::create_dir_all(&bin_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", bin_dir.display()));
    std::fs::create_dir_all(&plugin_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", plugin_dir.display()));
    let files = BINARIES
        .iter()
        .map(|name| (*name, &bin_dir))
        .chain(PLUGINS.iter().map(|(_, file)| (*file, &plugin_dir)));
    for (name, dir) in files {
        let from = profile_dir.join(name);
        let to = dir.join(name);
        // Replace, never write through: a running runner (or a loaded plugin) may be using
        // the old file.
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::copy(&from, &tmp)
            .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), tmp.display()));
        std::fs::rename(&tmp, &to)
            .unwrap_or_else(|e| panic!("cannot move {} to {}: {e}", tmp.display(), to.display()));
    }
}
