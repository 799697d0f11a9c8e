//! Getting QEMU going: launching it or adopting it, up to a working QMP connection.

use std::os::fd::AsFd;
use std::time::Duration;

use maqet_error_chain::error_chain;
use maqet_qmp::QmpClient;
use maqet_runner::layout::VmPaths;
use maqet_runner::{AdoptSpec, FailureKind, LaunchSpec};
use maqet_state::{ProcessIdentity, RuntimeUpdate, VmStatus};
use serde_json::json;
use tokio::signal::unix::Signal;

use super::fault::crash_point;
use super::log::log;
use super::qemu::{self, ExitKind, FirstAnswers, QemuProcess};
use super::ready::ReadyPipe;
use super::record::{self, VmRecorder};
use super::{QMP_ADOPT_LIMIT, QMP_OPEN_LIMIT, remove_file, remove_runtime_files};

/// How long a QMP connection that QEMU dropped waits for QEMU's exit status.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Launches QEMU and connects to it; `None` after reporting a failure.
pub(super) async fn launch(
    spec: &LaunchSpec,
    runner: ProcessIdentity,
    recorder: &VmRecorder,
    pipe: &mut ReadyPipe,
    sigterm: &mut Signal,
) -> Option<(QemuProcess, ProcessIdentity, QmpClient, FirstAnswers)> {
    let paths = &spec.paths;
    if let Some(running) = recorded_live_qemu(paths) {
        let message = format!(
            "the VM is already running as QEMU pid {} (recorded in {}); stop it first",
            running.pid,
            paths.qemu_pid_file().display()
        );
        fail(pipe, FailureKind::Other, &message, String::new());
        return None;
    }
    for socket in [paths.qemu_qmp_socket(), paths.console_socket()] {
        if socket.exists() && std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            let message = format!(
                "another process already serves {}; is the VM running?",
                socket.display()
            );
            fail(pipe, FailureKind::Other, &message, String::new());
            return None;
        }
        remove_file(&socket);
    }
    let socket = paths.qemu_qmp_socket();
    let (listener, qmp_stream) = match qemu::bind_qmp(&socket) {
        Ok(bound) => bound,
        Err(err) => {
            let message = format!("cannot create QEMU's QMP socket {}", socket.display());
            record_failure(recorder, &message);
            fail(pipe, FailureKind::Other, &message, err.to_string());
            return None;
        }
    };
    if spec.swtpm {
        match maqet_runner::swtpm::start(paths) {
            Ok(id) => log!("swtpm pid {} serves the TPM", id.pid),
            Err(text) => {
                record_failure(recorder, "the TPM emulator (swtpm) did not start");
                fail(pipe, FailureKind::Other, &text, String::new());
                return None;
            }
        }
    }
    log!("starting QEMU: {}", spec.qemu_argv.join(" "));
    crash_point("before-spawn");
    let spawned = qemu::spawn(&spec.qemu_argv, listener.as_fd());
    // QEMU holds its own copy now: the socket must close when QEMU exits.
    drop(listener);
    let (mut qemu, qemu_id, tail, copier) = match spawned {
        Ok(spawned) => spawned,
        Err(err) => {
            let binary = spec.qemu_argv.first().map_or("", String::as_str);
            let message = format!("cannot run the QEMU binary `{binary}`");
            record_failure(recorder, &message);
            fail(pipe, FailureKind::Other, &message, err.to_string());
            return None;
        }
    };
    log!("QEMU pid {}", qemu_id.pid);
    crash_point("after-spawn");
    // The database is opened only now, while QEMU sets its machine up: off the path to QEMU's
    // exec. A database that cannot be opened ends the start (the QEMU is killed) as before,
    // when it was checked before spawning.
    if let Err(err) = record_spawned(paths, recorder, qemu_id, runner) {
        fail(
            pipe,
            FailureKind::Other,
            "cannot open the state database",
            error_chain(&err),
        );
        give_up(&mut qemu, recorder, paths).await;
        return None;
    }
    crash_point("before-ready");
    enum Early {
        Connected(QmpClient, FirstAnswers),
        NoQmp(String),
        Exited(ExitKind),
        Terminated,
    }
    let early = tokio::select! {
        result = qemu::await_qmp(qmp_stream, QMP_OPEN_LIMIT) => match result {
            Ok((client, first)) => Early::Connected(client, first),
            // A QEMU that exits before accepting resets the connection: report the exit.
            Err(err) => match tokio::time::timeout(EXIT_GRACE, qemu.wait()).await {
                Ok(exit) => Early::Exited(exit),
                Err(_) => Early::NoQmp(err),
            },
        },
        exit = qemu.wait() => Early::Exited(exit),
        _ = sigterm.recv() => Early::Terminated,
    };
    match early {
        Early::Connected(client, first) => Some((qemu, qemu_id, client, first)),
        Early::Exited(exit) => {
            // Let the copier read what QEMU wrote before it exited.
            drop(tokio::time::timeout(Duration::from_millis(500), copier).await);
            record_failure(recorder, &format!("QEMU refused to start ({exit})"));
            fail(
                pipe,
                FailureKind::QemuExited,
                &exit.to_string(),
                tail.text(),
            );
            None
        }
        Early::NoQmp(err) => {
            let message = format!("QEMU did not open its QMP socket within {QMP_OPEN_LIMIT:?}");
            fail(pipe, FailureKind::QmpTimeout, &message, err);
            give_up(&mut qemu, recorder, paths).await;
            None
        }
        Early::Terminated => {
            fail(
                pipe,
                FailureKind::Other,
                "the runner was told to terminate during start-up",
                String::new(),
            );
            give_up(&mut qemu, recorder, paths).await;
            None
        }
    }
}

/// Checks and connects to a running QEMU; `None` after reporting a failure.
pub(super) async fn adopt(
    spec: &AdoptSpec,
    runner: ProcessIdentity,
    recorder: &VmRecorder,
    pipe: &mut ReadyPipe,
    sigterm: &mut Signal,
) -> Option<(QemuProcess, ProcessIdentity, QmpClient, FirstAnswers)> {
    let mut qemu = match qemu::adopt(&spec.qemu, &spec.paths.qemu_qmp_socket()) {
        Ok(qemu) => qemu,
        Err(text) => {
            log!("refusing to adopt: {text}");
            fail(pipe, FailureKind::NotAdoptable, &text, String::new());
            return None;
        }
    };
    let socket = spec.paths.qemu_qmp_socket();
    if !socket.exists() {
        // An adopted QEMU made its socket long ago: waiting for it to appear is pointless.
        let text = format!("QEMU's QMP socket {} is gone", socket.display());
        cannot_adopt(pipe, text);
        return None;
    }
    let client = tokio::select! {
        result = qemu::connect_qmp(&socket, QMP_ADOPT_LIMIT) => result,
        exit = qemu.wait() => Err(format!("QEMU exited ({exit}) while being adopted")),
        _ = sigterm.recv() => Err("the runner was told to terminate".into()),
    };
    match client {
        Ok(client) => {
            let note = record::note_event(
                "MAQET_READOPTED",
                json!({"qemu_pid": spec.qemu.pid, "runner_pid": runner.pid}),
            );
            recorder.append_event(&note);
            log!("re-adopted QEMU pid {}", spec.qemu.pid);
            let first = FirstAnswers::ask(&client);
            Some((qemu, spec.qemu, client, first))
        }
        Err(text) => {
            cannot_adopt(pipe, text);
            None
        }
    }
}

/// Reports that the QEMU to adopt does not answer on its QMP socket, `detail` saying why.
fn cannot_adopt(pipe: &mut ReadyPipe, detail: String) {
    log!("cannot adopt: {detail}");
    fail(
        pipe,
        FailureKind::NotAdoptable,
        "QEMU does not answer on its QMP socket",
        detail,
    );
}

pub(super) fn fail(pipe: &mut ReadyPipe, kind: FailureKind, message: &str, detail: String) {
    log!(
        "start-up failed: {message}{}{detail}",
        if detail.is_empty() { "" } else { ": " }
    );
    pipe.failed(kind, message.to_owned(), detail);
}

/// The QEMU named by the VM's pid file, if it still runs and is this VM's QEMU.
fn recorded_live_qemu(paths: &VmPaths) -> Option<ProcessIdentity> {
    let text = std::fs::read(paths.qemu_pid_file()).ok()?;
    let qemu: ProcessIdentity = serde_json::from_slice(&text).ok()?;
    maqet_runner::process::is_vm_qemu(&qemu, &paths.qemu_qmp_socket()).then_some(qemu)
}

/// Records the just-spawned QEMU (pid file in the runtime dir, then the state database) so
/// that a runner killed from here on leaves a QEMU every maqet command finds. The status is
/// `running` with reason `starting` until QMP answers. Fails only when the database cannot be
/// opened (a refused write is logged, as the `running` record follows).
fn record_spawned(
    paths: &VmPaths,
    recorder: &VmRecorder,
    qemu: ProcessIdentity,
    runner: ProcessIdentity,
) -> Result<(), maqet_state::StateError> {
    let text = serde_json::to_vec(&qemu).unwrap_or_default();
    if let Err(err) = write_pid_file(&paths.qemu_pid_file(), &text) {
        log!("cannot write {}: {err}", paths.qemu_pid_file().display());
    }
    recorder.keep_open()?;
    let update = RuntimeUpdate {
        status: VmStatus::Running,
        reason: Some("starting".into()),
        qemu: Some(qemu),
        runner: Some(runner),
        qmp_socket: Some(paths.qmp_socket()),
        console_socket: Some(paths.console_socket()),
        runtime_dir: Some(paths.runtime_dir.clone()),
    };
    if let Err(err) = recorder.set_runtime(&update) {
        log!("cannot record the spawned QEMU: {err}");
    }
    Ok(())
}

/// Writes the pid file whole or not at all (a temporary file renamed over it), without
/// `fsync`s: the file only has to survive the runner's death, which a rename in the page
/// cache does; after a power loss no QEMU runs anyway.
fn write_pid_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    maqet_state::write_replacing(path, bytes, false)
}

fn record_failure(recorder: &VmRecorder, reason: &str) {
    let update = RuntimeUpdate::cleared(VmStatus::Failed).with_reason(reason);
    if let Err(err) = recorder.set_runtime(&update) {
        log!("cannot record the failed start: {err}");
    }
}

/// Ends a start that cannot complete: kills a QEMU this runner launched (never an adopted one).
pub(super) async fn give_up(qemu: &mut QemuProcess, recorder: &VmRecorder, paths: &VmPaths) -> u8 {
    if let QemuProcess::Child(_) = qemu {
        qemu.kill_if_child();
        qemu.wait().await;
        record_failure(recorder, "start-up did not complete");
    }
    remove_runtime_files(paths, false);
    1
}
