//! Getting QEMU going: launching it or adopting it, up to a working QMP connection.

use std::os::fd::AsFd;
use std::time::Duration;

use maqet_qmp::QmpClient;
use maqet_runner::layout::VmPaths;
use maqet_runner::{AdoptSpec, FailureKind, LaunchSpec};
use maqet_state::{ProcessIdentity, RuntimeUpdate, VmStatus};
use serde_json::json;
use tokio::signal::unix::Signal;

use super::log::log;
use super::qemu::{self, ExitKind, QemuProcess};
use super::ready::ReadyPipe;
use super::record::{self, VmRecorder};
use super::{QMP_ADOPT_LIMIT, QMP_OPEN_LIMIT, remove_file, remove_runtime_files};

/// How long a QMP connection that QEMU dropped waits for QEMU's exit status.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Launches QEMU and connects to it; `None` after reporting a failure.
pub(super) async fn launch(
    spec: &LaunchSpec,
    recorder: &VmRecorder,
    pipe: &mut ReadyPipe,
    sigterm: &mut Signal,
) -> Option<(QemuProcess, ProcessIdentity, QmpClient)> {
    let paths = &spec.paths;
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
    log!("starting QEMU: {}", spec.qemu_argv.join(" "));
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
    enum Early {
        Connected(QmpClient),
        NoQmp(String),
        Exited(ExitKind),
        Terminated,
    }
    let early = tokio::select! {
        result = qemu::await_qmp(qmp_stream, QMP_OPEN_LIMIT) => match result {
            Ok(client) => Early::Connected(client),
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
        Early::Connected(client) => Some((qemu, qemu_id, client)),
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
) -> Option<(QemuProcess, ProcessIdentity, QmpClient)> {
    let mut qemu = match qemu::adopt(&spec.qemu, &spec.paths.qemu_qmp_socket()) {
        Ok(qemu) => qemu,
        Err(text) => {
            log!("refusing to adopt: {text}");
            fail(pipe, FailureKind::NotAdoptable, &text, String::new());
            return None;
        }
    };
    let socket = spec.paths.qemu_qmp_socket();
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
            Some((qemu, spec.qemu, client))
        }
        Err(text) => {
            log!("cannot adopt: {text}");
            fail(
                pipe,
                FailureKind::NotAdoptable,
                "QEMU does not answer on its QMP socket",
                text,
            );
            None
        }
    }
}

pub(super) fn fail(pipe: &mut ReadyPipe, kind: FailureKind, message: &str, detail: String) {
    log!(
        "start-up failed: {message}{}{detail}",
        if detail.is_empty() { "" } else { ": " }
    );
    pipe.failed(kind, message.to_owned(), detail);
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
