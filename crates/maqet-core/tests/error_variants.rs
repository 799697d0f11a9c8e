//! A caller of the Rust API matches refusals by variant, with typed fields, on real calls against
//! real QEMU (a no-OS VM under TCG): an already-running VM, a VM that is not running, an unknown
//! name, a bad config file and a taken host port; each with the exit code the CLI gives it.
//!
//! Needs the runner binary: `cargo build -p maqet-runner` (same target dir and profile).

// Test code: a step that fails panics with its message, which fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

use maqet_core::config::ConfigError;
use maqet_core::{ErrorKind, Maqet, MaqetError, VmStatus};

/// `target/<profile>/maqet-runner`, next to this test's `deps/` directory.
fn runner() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("maqet-runner"))
        .expect("the target directory");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p maqet-runner` first",
        path.display()
    );
    path
}

fn maqet(home: &Path) -> Maqet {
    Maqet::builder()
        .data_dir(home.join("data"))
        .runtime_dir(home.join("run"))
        .config_dir(home.join("config"))
        .runner_path(runner())
        .build()
        .expect("a Maqet in a temporary directory")
}

/// A VM with no kernel and no disk under TCG; `extra` is appended as YAML.
fn no_os_config(home: &Path, name: &str, extra: &str) -> PathBuf {
    let path = home.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "name: {name}\nbinary: qemu-system-x86_64\naccel: tcg\ndisplay: none\nmemory: 64M\n{extra}"
        ),
    )
    .expect("write the config");
    path
}

#[test]
fn running_stopped_and_unknown_vms_are_refused_by_variant() {
    let home = tempfile::tempdir().unwrap();
    let maqet = maqet(home.path());
    let config = no_os_config(home.path(), "idle", "");
    let id = maqet.add().config(&config).send().unwrap().into_vm_id();

    match maqet.qmp(&id, "query-status").send() {
        Err(err @ MaqetError::NotRunning { .. }) => {
            assert_eq!(err.exit_code(), 3);
            let MaqetError::NotRunning { vm, status } = &err else {
                unreachable!()
            };
            assert_eq!((vm.as_str(), *status), ("idle", VmStatus::Created));
            assert_eq!(
                err.to_string(),
                "VM `idle` is not running (status: created); start it with `maqet start idle`"
            );
        }
        other => panic!("qmp on a created VM: expected NotRunning, got {other:?}"),
    }

    maqet.start(&id).send().unwrap();
    let outcome = maqet.start(&id).send();
    let stopped = maqet.stop(&id).force(true).send();
    match outcome {
        Err(err @ MaqetError::AlreadyRunning { .. }) => {
            assert_eq!((err.kind(), err.exit_code()), (ErrorKind::AlreadyExists, 3));
            let MaqetError::AlreadyRunning { vm, pid } = &err else {
                unreachable!()
            };
            let pid = pid.expect("the running QEMU's pid");
            assert_eq!(vm, "idle");
            assert_eq!(
                err.to_string(),
                format!("VM `idle` is already running (pid {pid})")
            );
        }
        other => panic!("a second start: expected AlreadyRunning, got {other:?}"),
    }
    assert_eq!(stopped.unwrap().vm.status, VmStatus::Stopped);

    // `stop` of a stopped VM is not a refusal: it succeeds and says so.
    let again = maqet.stop(&id).send().unwrap();
    assert_eq!(
        maqet_core::serde_json::to_value(again.method).unwrap(),
        "already-stopped"
    );
    match maqet.qmp(&id, "query-status").send() {
        Err(MaqetError::NotRunning { vm, status }) => {
            assert_eq!((vm.as_str(), status), ("idle", VmStatus::Stopped));
        }
        other => panic!("qmp on a stopped VM: expected NotRunning, got {other:?}"),
    }

    match maqet.start("ghost").send() {
        Err(err @ MaqetError::VmNotFound(_)) => {
            assert_eq!((err.kind(), err.exit_code()), (ErrorKind::NotFound, 3));
            assert!(matches!(&err, MaqetError::VmNotFound(name) if name == "ghost"));
        }
        other => panic!("start of an unknown VM: expected VmNotFound, got {other:?}"),
    }
    maqet.rm().vm(&id).force(true).send().unwrap();
}

#[test]
fn a_bad_config_file_names_its_path_line_and_column() {
    let home = tempfile::tempdir().unwrap();
    let maqet = maqet(home.path());
    let config = home.path().join("broken.yaml");
    std::fs::write(&config, "name: broken\nmemory: [1\n").unwrap();
    match maqet.add().config(&config).send() {
        Err(err @ MaqetError::Config(_)) => {
            assert_eq!((err.kind(), err.exit_code()), (ErrorKind::InvalidInput, 3));
            let MaqetError::Config(config_err) = &err else {
                unreachable!()
            };
            let ConfigError::Syntax { location, .. } = config_err.as_ref() else {
                panic!("expected a YAML syntax error, got {config_err:?}")
            };
            assert_eq!(location.file.as_deref(), Some(config.as_path()));
            let position = location.position.as_ref().expect("a line and column");
            assert_eq!((position.line, position.column), (2, 9), "{err}");
        }
        other => panic!("add of a broken file: expected Config, got {other:?}"),
    }
    assert!(maqet.ls().send().is_ok_and(|list| list.0.is_empty()));
}

#[test]
fn a_taken_host_port_is_port_taken_naming_the_holder() {
    let home = tempfile::tempdir().unwrap();
    let maqet = maqet(home.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = no_os_config(
        home.path(),
        "taken",
        &format!("ports:\n  - {{host: {port}, guest: 22}}\n"),
    );
    let id = maqet.add().config(&config).send().unwrap().into_vm_id();
    let outcome = maqet.start(&id).send();
    if outcome.is_ok() {
        let _ = maqet.stop(&id).force(true).send();
    }
    match outcome {
        Err(err @ MaqetError::PortTaken { .. }) => {
            assert_eq!((err.kind(), err.exit_code()), (ErrorKind::InvalidInput, 3));
            let MaqetError::PortTaken {
                vm,
                port: taken,
                proto,
                addr,
                holder,
                ..
            } = &err
            else {
                unreachable!()
            };
            assert_eq!(
                (vm.as_str(), *taken, proto.as_str(), *addr),
                ("taken", port, "tcp", Ipv4Addr::LOCALHOST)
            );
            let holder = holder.as_deref().expect("the holding process is found");
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
        }
        other => panic!("start with a taken port: expected PortTaken, got {other:?}"),
    }
    drop(listener);
}
