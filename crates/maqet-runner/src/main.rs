//! `maqet-runner`: the per-VM supervisor process.
//!
//! Usage: `maqet-runner launch|adopt [VM-ID] < spec.json`. The spec (a `LaunchSpec` or an
//! `AdoptSpec` from the `maqet_runner` library, as JSON) comes on stdin; the runner detaches
//! (fork + setsid), reports on stdout (the ready pipe) and logs to the VM's `runner.log`.
//! The VM id argument only labels the process in `ps`.
//!
//! `SIGTERM` ends the runner but deliberately leaves QEMU running: a VM survives its
//! supervisor, and the next maqet command re-adopts it. Stop a VM with `maqet stop`.

mod supervisor;

use std::process::ExitCode;

use maqet_runner::{FailureKind, ReadyLine, process};
use supervisor::ready::{self, ReadyPipe};

const USAGE: &str = "usage: maqet-runner launch|adopt [VM-ID] < spec.json  (started by maqet; not meant to be run by hand)";

fn main() -> ExitCode {
    let mode = std::env::args().nth(1);
    let mut pipe = ReadyPipe::default();
    let job = match supervisor::read_job(mode.as_deref(), std::io::stdin().lock()) {
        Ok(job) => job,
        Err(message) => {
            eprintln!("maqet-runner: {message}\n{USAGE}");
            pipe.failed(FailureKind::Other, message, String::new());
            return ExitCode::from(2);
        }
    };
    if let Err(err) = ready::detach() {
        pipe.failed(
            FailureKind::Other,
            "cannot detach the runner from its starter".into(),
            err.to_string(),
        );
        return ExitCode::FAILURE;
    }
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let Some(runner) = process::identity_of(std::process::id()) else {
        pipe.failed(
            FailureKind::Other,
            "cannot read the runner's own process start time from /proc".into(),
            String::new(),
        );
        return ExitCode::FAILURE;
    };
    pipe.send(&ReadyLine::Runner { runner });
    if let Err((message, err)) = supervisor::prepare_files(&job) {
        pipe.failed(FailureKind::Other, message, err.to_string());
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            pipe.failed(
                FailureKind::Other,
                "cannot create the runner's event loop".into(),
                err.to_string(),
            );
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(supervisor::run(job, runner, pipe));
    // Tasks still serving clients must not keep the process alive.
    runtime.shutdown_background();
    ExitCode::from(code)
}
