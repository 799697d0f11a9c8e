//! What the runner records: status transitions in the state DB, QMP events in `events.jsonl`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use maqet_qmp::{QmpEvent, Timestamp};
use maqet_runner::layout::VmPaths;
use maqet_state::{ProcessIdentity, RuntimeUpdate, StateDb, StateError, VmStatus};
use serde_json::{Value, json};

use super::log::log;
use super::qemu::ExitKind;
use super::rotate;

/// The VM's row in the state DB, written by this runner.
///
/// The database may be deleted, truncated or replaced while the VM runs: an idle runner holds
/// no connection (and no lock) on it, opening it for each write and closing it again. Only the
/// writes of start-up share one connection ([`VmRecorder::keep_open`] to
/// [`VmRecorder::release`]), reopened if the file was replaced meanwhile. A row that is missing
/// although the VM's record file (`vm.json`) still exists is put back from that file first.
pub struct VmRecorder {
    db_path: PathBuf,
    vm_id: String,
    events_log: PathBuf,
    data_dir: PathBuf,
    /// The connection kept open during start-up.
    kept: Mutex<Option<StateDb>>,
}

impl VmRecorder {
    /// Records into the database at `db_path` for VM `vm_id`, events into the VM's
    /// `events.jsonl`.
    pub fn new(db_path: PathBuf, vm_id: String, paths: &VmPaths) -> Self {
        Self {
            db_path,
            vm_id,
            events_log: paths.events_log(),
            data_dir: paths.data_dir.clone(),
            kept: Mutex::new(None),
        }
    }

    /// Opens the database and keeps the connection for the writes of start-up, until
    /// [`VmRecorder::release`]: one open instead of one per write.
    pub fn keep_open(&self) -> Result<(), StateError> {
        let db = StateDb::open(&self.db_path)?;
        *self.kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(db);
        Ok(())
    }

    /// Ends start-up: moves what start-up wrote from the log into the database file (a
    /// checkpoint, with its `fsync`s, now that the starter has its answer), then closes the
    /// kept connection, so that an idle runner holds none.
    pub fn release(&self) {
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(db) = kept
            && let Err(err) = db.checkpoint()
        {
            log!("cannot checkpoint the state database: {err}");
        }
        super::heap::return_free_heap();
    }

    /// Runs `write`, after reopening a replaced database, and once more after restoring a
    /// lost row from the VM's record file.
    fn write(&self, write: impl Fn(&StateDb) -> Result<(), StateError>) -> Result<(), StateError> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let opened;
        let db = match kept.as_ref() {
            Some(db) => {
                db.reopen_if_replaced()?;
                db
            }
            None => {
                opened = StateDb::open(&self.db_path)?;
                &opened
            }
        };
        match write(db) {
            Err(err) if err.kind() == maqet_state::ErrorKind::NotFound && self.restore_row(db) => {
                write(db)
            }
            other => other,
        }
    }

    /// Puts the VM's row back from its record file; says whether it did.
    fn restore_row(&self, db: &StateDb) -> bool {
        restore_from_file(db, &self.data_dir, &self.vm_id)
    }

    /// Writes the full runtime state (status, processes, sockets).
    pub fn set_runtime(&self, update: &RuntimeUpdate) -> Result<(), maqet_state::StateError> {
        self.write(|db| db.set_runtime(&self.vm_id, update))
    }

    /// Sets the status, logging (not failing) when the database refuses.
    pub fn set_status(&self, status: VmStatus, reason: Option<&str>) {
        if let Err(err) = self.write(|db| db.set_status(&self.vm_id, status, reason)) {
            log!("cannot record status {status}: {err}");
        }
    }

    /// Records QEMU's exit, unless the VM was removed or now belongs to another QEMU.
    pub fn record_exit(&self, qemu: &ProcessIdentity, status: VmStatus, reason: &str) {
        let db = match StateDb::open(&self.db_path) {
            Ok(db) => db,
            Err(err) => {
                log!("cannot open the state database to record status {status}: {err}");
                return;
            }
        };
        let found = match db.find_vm(&self.vm_id) {
            Ok(None) if self.restore_row(&db) => db.find_vm(&self.vm_id),
            other => other,
        };
        match found {
            Ok(None) => log!("the VM was removed meanwhile; only cleaning up"),
            Ok(Some(vm)) if vm.qemu.is_some_and(|q| q != *qemu) => {
                log!("the VM now records another QEMU; leaving its state alone");
            }
            Ok(Some(_)) => {
                let update = RuntimeUpdate::cleared(status).with_reason(reason);
                match db.set_runtime(&self.vm_id, &update) {
                    Ok(()) => log!("recorded status {status} ({reason})"),
                    Err(err) if err.kind() == maqet_state::ErrorKind::NotFound => {
                        log!("the VM was removed meanwhile; only cleaning up");
                    }
                    Err(err) => log!("cannot record status {status}: {err}"),
                }
            }
            Err(err) => log!("cannot read the VM's state: {err}"),
        }
    }

    /// Appends one event as a JSON line to `events.jsonl`.
    pub fn append_event(&self, event: &QmpEvent) {
        let timestamp = event.timestamp.unwrap_or_else(now);
        let line = json!({
            "timestamp": timestamp,
            "event": event.event,
            "data": event.data,
        });
        let write = || -> std::io::Result<()> {
            rotate::rename_if_larger(&self.events_log, rotate::max_log_bytes())?;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.events_log)?;
            file.write_all(format!("{line}\n").as_bytes())
        };
        if let Err(err) = write() {
            log!("cannot append to {}: {err}", self.events_log.display());
        }
    }
}

/// Restores VM `vm_id`'s row from the record file in `data_dir`; says whether it did.
fn restore_from_file(db: &StateDb, data_dir: &Path, vm_id: &str) -> bool {
    match maqet_state::read_vm_file(data_dir) {
        Ok(Some(file)) if file.vm.id == vm_id => match db.restore_vm(&file.vm, &file.storage) {
            Ok(()) => {
                log!(
                    "the VM's row was missing from the state database; restored it from its record file"
                );
                true
            }
            Err(err) => {
                log!("cannot restore the VM's row from its record file: {err}");
                false
            }
        },
        Ok(_) => false,
        Err(err) => {
            log!("cannot read the VM's record file: {err}");
            false
        }
    }
}

/// The current time as a QMP timestamp.
pub fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        microseconds: i64::from(since.subsec_micros()),
    }
}

/// A note event the runner adds to `events.jsonl` itself (not from QEMU).
pub fn note_event(name: &str, data: Value) -> QmpEvent {
    QmpEvent {
        event: name.to_owned(),
        data,
        timestamp: Some(now()),
    }
}

/// The status and reason to record for a QEMU that ended, from its last SHUTDOWN reason (if
/// any), how the process ended, and whether `maqet stop` asked for it (`stop_requested`: its
/// marker file was in the runtime dir). A signal nobody in maqet sent (the OOM killer,
/// `kill -9`) is a crash.
pub fn exit_outcome(
    shutdown_reason: Option<&str>,
    exit: ExitKind,
    stop_requested: bool,
) -> (VmStatus, String) {
    if let Some(reason) = shutdown_reason {
        return match reason {
            "guest-shutdown" => (VmStatus::Stopped, "guest shutdown".into()),
            "host-qmp-quit" | "host-qmp-system-reset" | "host-signal" | "host-ui" => {
                (VmStatus::Stopped, "host stop".into())
            }
            "guest-panic" | "host-error" => (VmStatus::Crashed, reason.replace('-', " ")),
            other => (VmStatus::Stopped, other.replace('-', " ")),
        };
    }
    match exit {
        ExitKind::Signal(signal) if stop_requested => (
            VmStatus::Stopped,
            format!("host stop (signal {signal}{})", signal_name(signal)),
        ),
        ExitKind::Signal(signal) => (
            VmStatus::Crashed,
            format!(
                "QEMU was killed by signal {signal}{}, not by maqet{}",
                signal_name(signal),
                if signal == libc::SIGKILL {
                    " (the kernel's out-of-memory killer or a `kill -9`)"
                } else {
                    ""
                }
            ),
        ),
        ExitKind::Code(0) => (VmStatus::Stopped, "QEMU exited".into()),
        ExitKind::Code(code) => (VmStatus::Crashed, format!("QEMU exited with status {code}")),
        ExitKind::Unknown if stop_requested => (VmStatus::Stopped, "host stop".into()),
        ExitKind::Unknown => (
            VmStatus::Crashed,
            "QEMU exited without a SHUTDOWN event (killed or crashed; exit status unknown for a re-adopted QEMU)"
                .into(),
        ),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGILL => " (SIGILL)",
        libc::SIGFPE => " (SIGFPE)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGHUP => " (SIGHUP)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_reason_decides_over_exit_status() {
        let cases = [
            (
                Some("guest-shutdown"),
                ExitKind::Code(0),
                VmStatus::Stopped,
                "guest shutdown",
            ),
            (
                Some("host-qmp-quit"),
                ExitKind::Code(0),
                VmStatus::Stopped,
                "host stop",
            ),
            (
                Some("host-signal"),
                ExitKind::Signal(15),
                VmStatus::Stopped,
                "host stop",
            ),
            (
                Some("host-qmp-quit"),
                ExitKind::Unknown,
                VmStatus::Stopped,
                "host stop",
            ),
            (
                Some("guest-panic"),
                ExitKind::Code(0),
                VmStatus::Crashed,
                "guest panic",
            ),
        ];
        for (reason, exit, status, text) in cases {
            assert_eq!(
                exit_outcome(reason, exit, false),
                (status, text.to_owned()),
                "{reason:?}"
            );
        }
    }

    #[test]
    fn without_shutdown_the_exit_decides() {
        let outcome = |exit| exit_outcome(None, exit, false);
        let (status, reason) = outcome(ExitKind::Signal(9));
        assert_eq!(status, VmStatus::Crashed);
        assert!(reason.contains("signal 9 (SIGKILL)"), "{reason}");
        assert_eq!(outcome(ExitKind::Signal(15)).0, VmStatus::Crashed);
        assert_eq!(
            exit_outcome(None, ExitKind::Signal(9), true),
            (VmStatus::Stopped, "host stop (signal 9 (SIGKILL))".into())
        );
        let (status, reason) = outcome(ExitKind::Signal(11));
        assert_eq!(status, VmStatus::Crashed);
        assert!(reason.contains("SIGSEGV"), "{reason}");
        assert_eq!(
            outcome(ExitKind::Code(1)),
            (VmStatus::Crashed, "QEMU exited with status 1".into())
        );
        assert_eq!(outcome(ExitKind::Unknown).0, VmStatus::Crashed);
    }
}
