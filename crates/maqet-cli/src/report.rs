//! Error reports and logging set-up.

use std::io::IsTerminal;
use std::path::PathBuf;

use maqet_core::MaqetError;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// What starts each cause's line in a report.
const CAUSED_BY: &str = "\n  caused by: ";

/// Prints an error and its causes once, on stderr, and returns the exit code.
pub fn error(err: &MaqetError) -> i32 {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let label = if color {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    };
    let text = maqet_error_chain::join_chain(err, CAUSED_BY);
    eprintln!("{label}: {text}");
    err.exit_code()
}

/// Keeps the log file open for the life of the process.
pub struct LogGuard;

/// Sets up tracing: stderr at the chosen verbosity, plus a debug log file when asked.
pub fn init_logging(verbosity: u8, log_file: Option<PathBuf>) -> Option<LogGuard> {
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    if verbosity == 0 && log_file.is_none() && std::env::var_os("MAQET_LOG").is_none() {
        // The usual case: only warnings and errors, and the subscriber built when one comes.
        let lazy = crate::lazy_log::WarnOnStderr::new(|| {
            Box::new(
                tracing_subscriber::fmt()
                    .with_target(false)
                    .without_time()
                    .with_max_level(tracing::Level::WARN)
                    .with_ansi(stderr_ansi())
                    .with_writer(std::io::stderr)
                    .finish(),
            )
        });
        return tracing::subscriber::set_global_default(lazy)
            .ok()
            .map(|()| LogGuard);
    }
    let filter = EnvFilter::try_from_env("MAQET_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = stderr_ansi();
    let file = log_file.and_then(|path| {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok()
    });
    let builder = tracing_subscriber::fmt().with_target(false).without_time();
    let result = match file {
        Some(file) => {
            let file = std::sync::Mutex::new(file);
            let filter = if verbosity < 2 {
                EnvFilter::new("debug")
            } else {
                filter
            };
            builder
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(
                    std::io::stderr
                        .with_max_level(tracing::Level::WARN)
                        .and(file),
                )
                .try_init()
        }
        None => builder
            .with_env_filter(filter)
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .try_init(),
    };
    result.ok().map(|()| LogGuard)
}

/// Whether log lines on stderr get colours (a terminal, and no `NO_COLOR`).
fn stderr_ansi() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
