//! Read-your-writes for commands that pause or resume a VM.
//!
//! QEMU answers QMP `stop` and `cont` as soon as its vCPUs changed state; the runner records the
//! `STOP`/`RESUME` event a moment later. A command that changed the run state therefore asks
//! QEMU what the state now is and returns only once the VM's record says the same, so a
//! `status` right after it never shows the old state. The runner normally writes first; after
//! [`RECORD_WAIT`] (a runner that died, a slow disk) the command writes the state itself.

use std::time::{Duration, Instant};

use maqet_qmp::QmpClient;
use maqet_state::{VmRecord, VmStatus};

use crate::{Maqet, MaqetError};

/// How long a command waits for the runner to record the new run state.
const RECORD_WAIT: Duration = Duration::from_secs(3);
/// How often the record is read while waiting.
const POLL: Duration = Duration::from_millis(5);

/// Whether a raw QMP command changes the VM's run state (`running` ⇄ `paused`).
pub(crate) fn changes_run_state(command: &str) -> bool {
    matches!(command, "stop" | "cont")
}

/// The record status that QEMU's run state means: `paused` for every state but `running`.
pub(crate) async fn status_now(client: &QmpClient) -> Result<VmStatus, MaqetError> {
    let info = client.query_status().await?;
    Ok(if info.running {
        VmStatus::Running
    } else {
        VmStatus::Paused
    })
}

impl Maqet {
    /// Returns once `vm`'s record says `wanted` (QEMU's run state, from [`status_now`]); writes
    /// it when the runner has not within [`RECORD_WAIT`]. A record that meanwhile says the VM
    /// stopped is left alone.
    pub(crate) fn await_recorded_status(
        &self,
        vm: &VmRecord,
        wanted: VmStatus,
    ) -> Result<(), MaqetError> {
        let deadline = Instant::now() + RECORD_WAIT;
        loop {
            let now = self.vm_record(&vm.id)?.status;
            if now == wanted || !matches!(now, VmStatus::Running | VmStatus::Paused) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL);
        }
        tracing::debug!(vm = %vm.name, status = %wanted, "the runner did not record the run state in time; recording it");
        self.db()?.transaction(|tx| {
            let now = tx.get_vm(&vm.id)?;
            if matches!(now.status, VmStatus::Running | VmStatus::Paused) && now.status != wanted {
                tx.set_status(&vm.id, wanted, None)?;
            }
            Ok::<(), MaqetError>(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stop_and_cont_change_the_run_state() {
        assert!(changes_run_state("stop"));
        assert!(changes_run_state("cont"));
        assert!(!changes_run_state("query-status"));
        assert!(!changes_run_state("system_powerdown"));
    }
}
