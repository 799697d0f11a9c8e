//! The README's "From Rust" example runs as written with `.send()`, and again with `.await` in
//! place of each `.send()` (its own test binary: it points `MAQET_RUNNER` and the XDG
//! directories at a temporary home, as the README's reader has them set).

// Test helpers outside #[test] functions: a failure is the test's failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use maqet_core::{ConfigKeySetters, Maqet, MaqetError};
use maqet_tests::{MaqetHome, guest_config_yaml, maqet_runner_binary, qemu_pids_mentioning};

/// The README's "From Rust" example, line for line, with the data directory and the config
/// file of this test's home.
fn readme_blocking(
    data_dir: &std::path::Path,
    base_yaml: &std::path::Path,
) -> Result<(), MaqetError> {
    let maqet = Maqet::builder().data_dir(data_dir).build()?;
    let vm_id = maqet
        .add()
        .config(base_yaml)
        .name("web")
        .memory("4G")
        .cpu(2)
        .send()?
        .into_vm_id();
    maqet.start(&vm_id).send()?;
    let reply = maqet.qmp(&vm_id, "query-status").send()?;
    maqet.stop(&vm_id).timeout(60.0).send()?;
    maqet.rm().vm(&vm_id).force(true).send()?;
    assert_eq!(reply.0["status"], "running");
    Ok(())
}

/// The same with `.await` in place of each `.send()`.
async fn readme_awaited(
    data_dir: &std::path::Path,
    base_yaml: &std::path::Path,
) -> Result<(), MaqetError> {
    let maqet = Maqet::builder().data_dir(data_dir).build()?;
    let vm_id = maqet
        .add()
        .config(base_yaml)
        .name("web")
        .memory("4G")
        .cpu(2)
        .await?
        .into_vm_id();
    maqet.start(&vm_id).await?;
    let reply = maqet.qmp(&vm_id, "query-status").await?;
    maqet.stop(&vm_id).timeout(60.0).await?;
    maqet.rm().vm(&vm_id).force(true).await?;
    assert_eq!(reply.0["status"], "running");
    Ok(())
}

#[test]
fn readme_example_runs_with_send_and_with_await() {
    let home = MaqetHome::new();
    // The README's handle names only a data directory; the runner and runtime directory come
    // from the environment, as they would for its reader.
    // SAFETY: the only test of this binary, before it starts any thread.
    unsafe {
        std::env::set_var("MAQET_RUNNER", maqet_runner_binary());
        std::env::set_var("XDG_RUNTIME_DIR", home.runtime_dir());
        std::env::set_var("XDG_CONFIG_HOME", home.config_dir());
    }
    let base = home.write_config("base", &guest_config_yaml("base", ""));
    readme_blocking(&home.data_dir(), &base).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(readme_awaited(&home.data_dir(), &base))
        .unwrap();
    assert!(qemu_pids_mentioning(home.path()).is_empty());
}
