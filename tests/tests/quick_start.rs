//! `crates/maqet-core/examples/quick_start.rs` (the reference's Quick Start in Rust) runs
//! against the test guest and does what it says: adds, starts, reports, stops and removes.

use std::path::PathBuf;
use std::process::Command;

use maqet_tests::{
    MaqetHome, guest_config_yaml, maqet_binary, maqet_runner_binary, qemu_pids_mentioning,
};

/// The example binary cargo builds next to the test executables (`target/<profile>/examples`).
fn quick_start_binary() -> PathBuf {
    let runner = maqet_runner_binary();
    let profile_dir = runner
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/debug"));
    profile_dir.join("examples").join("quick_start")
}

/// A command with this home's `HOME` and `XDG_*` dirs, so maqet's default directories (which the
/// example uses) are inside the home.
fn in_home(home: &MaqetHome, program: &std::path::Path) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MAQET_") {
            command.env_remove(&key);
        }
    }
    let xdg = home.path().join("xdg");
    command
        .current_dir(home.path())
        .env("MAQET_RUNNER", maqet_runner_binary())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", xdg.join("config"))
        .env("XDG_DATA_HOME", xdg.join("data"))
        .env("XDG_CACHE_HOME", xdg.join("cache"))
        .env("XDG_STATE_HOME", xdg.join("state"))
        .env("XDG_RUNTIME_DIR", xdg.join("runtime"));
    command
}

#[test]
fn quick_start_example_adds_starts_reports_stops_and_removes_a_vm() {
    let example = quick_start_binary();
    assert!(
        example.is_file(),
        "the quick_start example is not built at {}: run `cargo build -p maqet-core --example \
         quick_start` (or `cargo test --workspace`, which builds examples) with the tests' \
         target dir and profile",
        example.display()
    );
    let home = MaqetHome::new();
    // The example reads `config.yaml` from its working directory; the name it gives wins.
    std::fs::write(
        home.path().join("config.yaml"),
        guest_config_yaml("from-config", ""),
    )
    .unwrap();

    let output = in_home(&home, &example).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "quick_start failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert_eq!(stdout, "VM myvm is running\n", "stderr:\n{stderr}");

    // The VM is gone from the default data dir, and no QEMU of it is left.
    let ls = in_home(&home, &maqet_binary())
        .args(["ls", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        ls.status.success(),
        "{}",
        String::from_utf8_lossy(&ls.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(listed, serde_json::json!([]), "the example removes its VM");
    assert!(
        qemu_pids_mentioning(home.path()).is_empty(),
        "the example stops its VM"
    );
    // It really ran in the home's XDG data dir (not in the real home).
    assert!(home.path().join("xdg/data/maqet").is_dir());
}
