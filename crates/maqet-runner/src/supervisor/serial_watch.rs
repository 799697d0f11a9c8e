//! Keeping `serial.log` below its size limit without waking an idle runner.
//!
//! QEMU appends the guest's serial output to `serial.log`. Instead of checking its size on a
//! timer (a wake-up every few seconds even when the guest prints nothing), the runner watches
//! the file with inotify (`IN_MODIFY`) and checks the size only after QEMU wrote to it, at most
//! once per [`CHECK_EVERY`] while the guest keeps writing. A quiet guest costs no wake-up.
//! Where inotify is unavailable, the size is checked every [`CHECK_EVERY`] as before.

use std::os::fd::OwnedFd;
use std::time::Duration;

use maqet_runner::layout::VmPaths;
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use tokio::io::unix::AsyncFd;

use super::log::log;
use super::rotate;

/// The shortest time between two size checks while the guest writes.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Checks `serial.log` whenever QEMU has written to it; runs until the runner ends.
pub async fn watch(paths: VmPaths) {
    let serial = paths.serial_log();
    let watcher = match watch_file(&serial) {
        Ok(watcher) => watcher,
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
        let Ok(mut ready) = watcher.readable().await else {
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

fn watch_file(path: &std::path::Path) -> std::io::Result<AsyncFd<OwnedFd>> {
    let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
    inotify::add_watch(&fd, path, WatchFlags::MODIFY)?;
    // SAFETY: `OwnedFd` owns a valid open descriptor and always returns that same descriptor.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|err| err.into_parts().1)
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
