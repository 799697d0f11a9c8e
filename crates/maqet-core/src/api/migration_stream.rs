//! The QEMU side of a saved state: writing and reading QEMU's migration stream over QMP, and
//! reading why QEMU gave up. Used by [`super::managed_save`].

use std::time::{Duration, Instant};

use maqet_qmp::{QmpClient, RunState};
use serde_json::json;

/// How long QEMU may take to write or read a state (a guest with many GiB on a slow disk).
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the migration's progress is asked for.
const MIGRATION_POLL: Duration = Duration::from_millis(5);
/// QMP's reply timeout while a migration runs (QEMU answers between chunks).
const QMP_REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The last line QEMU wrote to stderr, from the tail of the runner's log (`qemu: ...` lines),
/// cut to a readable length.
pub(super) fn last_qemu_line(log: &std::path::Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 8192;
    const MAX_CHARS: usize = 300;
    let mut file = std::fs::File::open(log).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut tail = Vec::new();
    file.take(TAIL).read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.split_once("qemu: ").map(|(_, rest)| rest.trim()))
        .filter(|l| !l.is_empty())?;
    Some(line.chars().take(MAX_CHARS).collect())
}

/// `argv` without the `-incoming defer` of a restored run, as a plain start renders it.
pub(super) fn without_incoming(argv: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut args = argv.into_iter().peekable();
    while let Some(arg) = args.next() {
        if arg == "-incoming" && args.peek().is_some_and(|v| v == "defer") {
            args.next();
            continue;
        }
        out.push(arg);
    }
    out
}

/// Waits until QEMU's outgoing migration completed; its error text when it failed.
pub(super) async fn wait_outgoing(qmp: &QmpClient) -> Result<(), String> {
    let deadline = Instant::now() + MIGRATION_TIMEOUT;
    loop {
        let info = qmp
            .execute_with_timeout("query-migrate", None, QMP_REPLY_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        match info["status"].as_str().unwrap_or("") {
            "completed" => return Ok(()),
            "failed" | "cancelled" => {
                return Err(info["error-desc"]
                    .as_str()
                    .unwrap_or("QEMU gave no reason")
                    .to_owned());
            }
            _ if Instant::now() >= deadline => {
                let _ = qmp.execute("migrate_cancel", None).await;
                return Err(format!(
                    "it did not finish within {} s",
                    MIGRATION_TIMEOUT.as_secs()
                ));
            }
            _ => tokio::time::sleep(MIGRATION_POLL).await,
        }
    }
}

/// Has QEMU (started with `-incoming defer`) load `source`, waits until it did, and resumes
/// the guest when it ran at the save (`resume`): the save paused it first, so QEMU loads it
/// paused.
pub(super) async fn migrate_in(qmp: &QmpClient, source: &str, resume: bool) -> Result<(), String> {
    qmp.execute("migrate-incoming", Some(json!({ "uri": source })))
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + MIGRATION_TIMEOUT;
    loop {
        let status = qmp
            .execute_with_timeout("query-status", None, QMP_REPLY_TIMEOUT)
            .await
            .map_err(|_| "QEMU ended while loading it".to_owned())?;
        let state = status["status"].as_str().unwrap_or("");
        if state != RunState::InMigrate.as_str() {
            if resume && state == RunState::Paused.as_str() {
                qmp.cont().await.map_err(|e| e.to_string())?;
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "it did not load within {} s",
                MIGRATION_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(MIGRATION_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_runs_incoming_is_dropped_from_its_argv() {
        let argv = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            without_incoming(argv(&["qemu", "-m", "1G", "-incoming", "defer", "-S"])),
            argv(&["qemu", "-m", "1G", "-S"])
        );
        assert_eq!(
            without_incoming(argv(&["qemu", "-incoming", "tcp:0:4444"])),
            argv(&["qemu", "-incoming", "tcp:0:4444"])
        );
    }
}
