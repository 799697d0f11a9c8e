//! The runner's watch over the VM's swtpm ([`maqet_runner::swtpm`]): taken over with QEMU at
//! launch and at re-adoption, its death while QEMU runs logged (the guest's TPM stops
//! answering), and ended after QEMU (it exits by itself when QEMU closes the control
//! connection; a swtpm that does not is terminated) with its runtime files removed.

use std::time::Duration;

use maqet_runner::layout::VmPaths;
use maqet_runner::process::{StopSignal, is_alive, send_signal};
use maqet_runner::swtpm;

use super::log::log;
use super::remove_file;

/// How often the watch checks that swtpm lives.
const POLL: Duration = Duration::from_secs(1);
/// How long swtpm gets to end by itself after QEMU exited.
const END_GRACE: Duration = Duration::from_secs(3);

/// Starts watching the VM's swtpm, when it has one running.
pub(super) fn watch(paths: &VmPaths) {
    let Some(id) = swtpm::running(paths) else {
        return;
    };
    log!("supervising swtpm pid {}", id.pid);
    let log_file = swtpm::log_file(paths);
    tokio::spawn(async move {
        while is_alive(&id) {
            tokio::time::sleep(POLL).await;
        }
        log!(
            "swtpm pid {} exited while QEMU runs: the guest's TPM no longer answers (see {})",
            id.pid,
            log_file.display()
        );
    });
}

/// Ends the VM's swtpm after QEMU exited (or never started) and removes its runtime files.
pub(super) async fn end(paths: &VmPaths) {
    if let Some(id) = swtpm::running(paths) {
        let deadline = tokio::time::Instant::now() + END_GRACE;
        while is_alive(&id) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if is_alive(&id) {
            log!("swtpm pid {} outlived QEMU; terminating it", id.pid);
            if let Err(err) = send_signal(&id, StopSignal::Terminate) {
                log!("cannot terminate swtpm pid {}: {err}", id.pid);
            }
        }
    }
    remove_file(&swtpm::pid_file(paths));
    remove_file(&swtpm::control_socket(paths));
}
