//! The runner's work: launch or adopt QEMU, serve the QMP multiplexer, record what happens.

mod agent;
mod agent_exec;
mod exec_path;
mod fault;
mod heap;
pub mod log;
mod mux;
mod qemu;
mod qmp_session;
pub mod ready;
mod record;
mod rotate;
mod serial_watch;
mod startup;
mod swtpm_watch;

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use maqet_qmp::QmpEvent;
use maqet_runner::layout::VmPaths;
use maqet_runner::{AdoptSpec, FailureKind, LaunchSpec, Started};
use maqet_state::{ProcessIdentity, RuntimeUpdate, VmStatus};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;

use self::log::log;
use self::qemu::FirstAnswers;
use self::ready::ReadyPipe;
use self::record::VmRecorder;
use self::startup::{adopt, fail, give_up, launch};
use maqet_error_chain::error_chain;

/// How long a launched QEMU gets to open its QMP socket before the runner gives up.
const QMP_OPEN_LIMIT: Duration = Duration::from_secs(300);
/// How long an adopted QEMU gets to accept the new runner's QMP connection.
const QMP_ADOPT_LIMIT: Duration = Duration::from_secs(15);

/// What the runner was asked to do.
pub enum Job {
    /// Launch QEMU.
    Launch(LaunchSpec),
    /// Take over a running QEMU.
    Adopt(AdoptSpec),
}

impl Job {
    fn paths(&self) -> &VmPaths {
        match self {
            Self::Launch(spec) => &spec.paths,
            Self::Adopt(spec) => &spec.paths,
        }
    }

    fn vm(&self) -> (&str, &str, &Path) {
        match self {
            Self::Launch(s) => (&s.vm_id, &s.vm_name, &s.db_path),
            Self::Adopt(s) => (&s.vm_id, &s.vm_name, &s.db_path),
        }
    }
}

/// Reads the job for `mode` (`launch` or `adopt`) from `input` (JSON).
pub fn read_job(mode: Option<&str>, mut input: impl Read) -> Result<Job, String> {
    let mut text = String::new();
    let parse = |mode: &str, text: &str| -> Result<Job, serde_json::Error> {
        Ok(match mode {
            "launch" => Job::Launch(serde_json::from_str(text)?),
            _ => Job::Adopt(serde_json::from_str(text)?),
        })
    };
    match mode {
        Some(mode @ ("launch" | "adopt")) => {
            input
                .read_to_string(&mut text)
                .map_err(|err| format!("cannot read the {mode} spec from stdin: {err}"))?;
            parse(mode, &text)
                .map_err(|err| format!("the {mode} spec on stdin is not valid: {err}"))
        }
        Some(other) => Err(format!("unknown mode `{other}`")),
        None => Err("missing mode".into()),
    }
}

/// Creates the runtime dir (0700) and data dir, sends stderr to `runner.log` (truncated on
/// launch, appended on adopt) and detaches stdin.
pub fn prepare_files(job: &Job) -> Result<(), (String, std::io::Error)> {
    let paths = job.paths();
    let runtime = &paths.runtime_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(runtime)
        .and_then(|()| std::fs::set_permissions(runtime, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| {
            (
                format!("cannot create the runtime directory {}", runtime.display()),
                e,
            )
        })?;
    std::fs::create_dir_all(&paths.data_dir).map_err(|e| {
        (
            format!(
                "cannot create the data directory {}",
                paths.data_dir.display()
            ),
            e,
        )
    })?;
    if matches!(job, Job::Launch(_)) {
        // A marker left by an earlier stop must not turn this QEMU's crash into a stop.
        let _ = std::fs::remove_file(paths.stop_marker());
        let serial = paths.serial_log();
        rotate::keep_previous(&serial).map_err(|e| {
            (
                format!(
                    "cannot move the previous serial log {} aside",
                    serial.display()
                ),
                e,
            )
        })?;
    }
    let log_path = paths.runner_log();
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(matches!(job, Job::Adopt(_)))
        .truncate(matches!(job, Job::Launch(_)))
        .open(&log_path)
        .map_err(|e| {
            (
                format!("cannot open the runner log {}", log_path.display()),
                e,
            )
        })?;
    ready::redirect(&log_file, 2)
        .and_then(|()| ready::redirect_to_null(0, false))
        .map_err(|e| {
            (
                "cannot redirect the runner's standard streams".to_owned(),
                e,
            )
        })?;
    let (id, name, _) = job.vm();
    let mode = if matches!(job, Job::Launch(_)) {
        "launch"
    } else {
        "adopt"
    };
    log!(
        "maqet-runner {} ({mode}) for VM {name} ({id}), pid {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    // Lets `maqet exec NAME` find this runner's sockets without the database.
    if let Err(err) = maqet_runner::name_link::record(runtime, name, id) {
        log!(
            "cannot link the VM's name to its runtime directory (commands use the database): {err}"
        );
    }
    Ok(())
}

/// Runs the job to its end; returns the process exit code.
pub async fn run(job: Job, runner: ProcessIdentity, mut pipe: ReadyPipe) -> u8 {
    let (vm_id, _, db_path) = job.vm();
    let paths = job.paths().clone();
    // Opened at the first write (right after QEMU's spawn, or the adopted VM's `running`).
    let recorder = VmRecorder::new(db_path.to_owned(), vm_id.to_owned(), &paths);
    let mut sigterm = match signal(SignalKind::terminate()) {
        Ok(sigterm) => sigterm,
        Err(err) => {
            fail(
                &mut pipe,
                FailureKind::Other,
                "cannot handle SIGTERM",
                err.to_string(),
            );
            return 1;
        }
    };
    let adopting = matches!(job, Job::Adopt(_));
    let got = match &job {
        Job::Launch(spec) => launch(spec, runner, &recorder, &mut pipe, &mut sigterm).await,
        Job::Adopt(spec) => adopt(spec, runner, &recorder, &mut pipe, &mut sigterm).await,
    };
    let Some((mut qemu, qemu_id, qmp, first)) = got else {
        // A QEMU that could not be adopted may still run: its sockets stay.
        if !adopting {
            swtpm_watch::end(&paths).await;
            remove_runtime_files(&paths, false);
        }
        return 1;
    };
    let mut events = qmp.events();
    let listener = match mux::bind(&paths.qmp_socket()) {
        Ok(listener) => listener,
        Err(err) => {
            fail(
                &mut pipe,
                FailureKind::Other,
                "cannot serve the VM's QMP socket",
                err.to_string(),
            );
            return give_up(&mut qemu, &recorder, &paths).await;
        }
    };
    // QEMU's command list (for the raw-QMP gate) was asked for right behind the status; it is
    // awaited in the background, off the ready path. The multiplexer serves every client at
    // once; only a raw client's command waits for the list, and that wait is bounded (see
    // `mux::KnownCommands`).
    let known = mux::KnownCommands::fetch(first.commands);
    let running = FirstAnswers::running(first.status).await;
    let update = RuntimeUpdate {
        status: if running {
            VmStatus::Running
        } else {
            VmStatus::Paused
        },
        reason: Some(
            if adopting {
                "re-adopted by a new runner"
            } else {
                "started"
            }
            .into(),
        ),
        qemu: Some(qemu_id),
        runner: Some(runner),
        qmp_socket: Some(paths.qmp_socket()),
        console_socket: Some(paths.console_socket()),
        runtime_dir: Some(paths.runtime_dir.clone()),
    };
    if let Err(err) = recorder.set_runtime(&update) {
        fail(
            &mut pipe,
            FailureKind::Other,
            "cannot record the running VM",
            error_chain(&err),
        );
        remove_file(&paths.qmp_socket());
        return give_up(&mut qemu, &recorder, &paths).await;
    }
    // The gate's directories are resolved in the task, after the ready report: clients that
    // connect before then wait in the listen backlog.
    let gate_dirs = [paths.data_dir.clone(), paths.runtime_dir.clone()];
    let mux_qmp = qmp.clone();
    tokio::spawn(async move {
        let dirs = maqet_runner::qmp_gate::AllowedDirs::for_user(&gate_dirs);
        mux::serve(listener, mux_qmp, dirs, known).await;
    });
    agent::start(&paths, qemu_id.pid, qmp.events());
    pipe.ready(Started {
        runner,
        qemu: qemu_id,
        qmp_socket: paths.qmp_socket(),
    });
    recorder.release();
    fault::crash_point("after-ready");
    log!(
        "ready: QEMU pid {}, QMP multiplexer on {}",
        qemu_id.pid,
        paths.qmp_socket().display()
    );

    let mut shutdown = None;
    let mut events_open = true;
    tokio::spawn(serial_watch::watch(paths.clone(), qmp.events()));
    swtpm_watch::watch(&paths);
    let exit = loop {
        tokio::select! {
            exit = qemu.wait() => break Some(exit),
            event = events.recv(), if events_open => match event {
                Ok(event) => on_event(&recorder, &mut shutdown, &event),
                Err(RecvError::Lagged(missed)) => log!("missed {missed} QMP events (too many at once)"),
                Err(RecvError::Closed) => events_open = false,
            },
            _ = sigterm.recv() => break None,
        }
    };
    let Some(exit) = exit else {
        log!(
            "SIGTERM: the runner exits and leaves QEMU (pid {}) running; any maqet command re-adopts it",
            qemu_id.pid
        );
        remove_file(&paths.qmp_socket());
        remove_file(&paths.agent_socket());
        return 0;
    };
    // Events QEMU sent just before exiting (SHUTDOWN) may still be in flight.
    drop(tokio::time::timeout(Duration::from_secs(1), qmp.closed()).await);
    while let Ok(event) = events.try_recv() {
        on_event(&recorder, &mut shutdown, &event);
    }
    let stop_requested = paths.stop_marker().exists();
    let (status, reason) = record::exit_outcome(shutdown.as_deref(), exit, stop_requested);
    log!(
        "QEMU exited ({exit}); SHUTDOWN reason: {}",
        shutdown.as_deref().unwrap_or("none")
    );
    recorder.record_exit(&qemu_id, status, &reason);
    swtpm_watch::end(&paths).await;
    remove_runtime_files(&paths, true);
    0
}

fn on_event(recorder: &VmRecorder, shutdown: &mut Option<String>, event: &QmpEvent) {
    recorder.append_event(event);
    match event.event.as_str() {
        "STOP" if shutdown.is_none() => recorder.set_status(VmStatus::Paused, None),
        "RESUME" => recorder.set_status(VmStatus::Running, None),
        "SHUTDOWN" => {
            let reason = event.data.get("reason").and_then(|r| r.as_str());
            *shutdown = Some(reason.unwrap_or("unknown").to_owned());
        }
        _ => {}
    }
}

pub(super) fn remove_runtime_files(paths: &VmPaths, include_mux: bool) {
    for file in paths.run_files(include_mux) {
        remove_file(&file);
    }
    // Only succeeds when empty (the caller's lock file may still be there).
    drop(std::fs::remove_dir(&paths.runtime_dir));
}

pub(super) fn remove_file(path: &Path) {
    if let Err(err) = std::fs::remove_file(path)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        log!("cannot remove {}: {err}", path.display());
    }
}
