//! The per-VM lock that serialises commands changing one VM (start, stop, apply, rm, ...).

use std::time::Duration;

use maqet_state::VmRecord;

use crate::{Maqet, MaqetError};

/// An exclusive per-VM lock held while a command changes the VM (start, stop, apply, rm, ...).
pub struct VmLock {
    _file: std::fs::File,
}

/// How long a command waits for another one working on the same VM.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

impl Maqet {
    /// Takes the VM's lock, waiting up to [`LOCK_WAIT`]; fails with a timeout ("busy") after that.
    pub fn lock_vm(&self, vm: &VmRecord) -> Result<VmLock, MaqetError> {
        use rustix::fs::{FlockOperation, flock};
        let dir = self.dirs().runtime.join("locks");
        crate::dirs::create_private_dir(&dir)?;
        let path = dir.join(format!("{}.lock", vm.id));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                MaqetError::io(format!("cannot open the lock file {}", path.display()), e)
            })?;
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(VmLock { _file: file }),
                Err(rustix::io::Errno::WOULDBLOCK) if std::time::Instant::now() < deadline => {
                    self.progress(&format!(
                        "waiting for another maqet command on VM `{}`",
                        vm.name
                    ));
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(MaqetError::Locked {
                        vm: vm.name.clone(),
                        seconds: LOCK_WAIT.as_secs(),
                    });
                }
                Err(e) => {
                    return Err(MaqetError::io(
                        format!("cannot lock {}", path.display()),
                        std::io::Error::from(e),
                    ));
                }
            }
        }
    }
}
