//! Keeping `serial.log` below its size limit without waking an idle runner.
//!
//! QEMU appends the guest's serial output to `serial.log`. Instead of checking its size on a
//! timer (a wake-up every few seconds even when the guest prints nothing), the runner watches
//! the file with inotify (`IN_MODIFY`) and checks the size only after QEMU wrote to it, at most
//! once per [`CHECK_EVERY`] while the guest keeps writing. A quiet guest costs no wake-up.
//! Where inotify is unavailable, the size is checked every [`CHECK_EVERY`] as before.
//!
//! The watch is given up when QEMU reports `POWERDOWN` (the ACPI power button of a stop): the
//! rest of the VM's life is checked on the timer. Closing an inotify descriptor waits for the
//! kernel to retire its marks (an SRCU grace period, about 15 ms measured here), and the runner
//! closes everything as it exits, so `maqet stop` waited that long after QEMU had gone. A watch
//! removed while the guest powers off is mostly retired by then (16 ms of wait became 5 ms
//! for the busybox test guest, which powers off in about 30 ms). A guest that ignores the
//! button is checked on the timer from then on.

use std::os::fd::OwnedFd;
use std::time::Duration;

use maqet_qmp::QmpEvent;
use maqet_runner::layout::VmPaths;
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use tokio::io::unix::AsyncFd;
use tokio::sync::broadcast;

use super::log::log;
use super::rotate;

/// The shortest time between two size checks while the guest writes.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Checks `serial.log` whenever QEMU has written to it; runs until the runner ends. `events`
/// are QEMU's: a `POWERDOWN` among them ends the inotify watch (see the module page).
pub async fn watch(paths: VmPaths, mut events: broadcast::Receiver<QmpEvent>) {
    let serial = paths.serial_log();
    let (watcher, watch) = match watch_file(&serial) {
        Ok(watching) => watching,
        // QEMU creates the file at start-up or never (no serial log configured).
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
        Err(err) => {
            log!(
                "cannot watch {} ({err}); checking its size every {CHECK_EVERY:?}",
                serial.display()
            );
            poll(&paths).await;
            return;
        }
    };
    loop {
        let readable = tokio::select! {
            readable = watcher.readable() => readable,
            () = powerdown(&mut events) => {
                // Keeps the descriptor: closing it now would wait for the mark's retirement.
                if let Err(err) = inotify::remove_watch(watcher.get_ref(), watch) {
                    log!("cannot end the watch of {}: {err}", serial.display());
                }
                poll(&paths).await;
                return;
            }
        };
        let Ok(mut ready) = readable else {
            poll(&paths).await;
            return;
        };
        let drained = ready.try_io(|fd| drain(fd.get_ref()));
        if matches!(drained, Ok(Err(_))) {
            poll(&paths).await;
            return;
        }
        check(&paths);
        // Writes during the pause are seen by the next readiness, checked after it.
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// An inotify descriptor watching `path` for writes, and the watch's number.
fn watch_file(path: &std::path::Path) -> std::io::Result<(AsyncFd<OwnedFd>, i32)> {
    let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
    let watch = inotify::add_watch(&fd, path, WatchFlags::MODIFY)?;
    // SAFETY: `OwnedFd` owns a valid open descriptor and always returns that same descriptor.
    let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|err| err.into_parts().1)?;
    Ok((fd, watch))
}

/// Returns when QEMU reports `POWERDOWN`; never when its events end first.
async fn powerdown(events: &mut broadcast::Receiver<QmpEvent>) {
    loop {
        match events.recv().await {
            Ok(event) if event.event == "POWERDOWN" => return,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// Reads every pending event (their content does not matter); `WouldBlock` when none is left.
fn drain(fd: &OwnedFd) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// The fallback: a size check on a timer.
async fn poll(paths: &VmPaths) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    loop {
        every.tick().await;
        check(paths);
    }
}

/// Rotates `serial.log` when it is over the limit.
fn check(paths: &VmPaths) {
    let serial = paths.serial_log();
    match rotate::copy_truncate_if_larger(&serial, rotate::max_log_bytes()) {
        Ok(true) => log!("rotated {} (over the size limit)", serial.display()),
        Ok(false) => {}
        Err(err) => log!("cannot rotate {}: {err}", serial.display()),
    }
}
