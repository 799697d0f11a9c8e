//! Removing partial files when `cp` is interrupted by SIGINT, SIGTERM or SIGHUP.
//!
//! While a partial file exists, its directory handle and name sit in one of a few fixed slots.
//! The signal handler (installed only for signals whose disposition is still the default, so
//! an embedding program's own handlers and `nohup`'s ignored SIGHUP are left alone) unlinks
//! every registered partial with `unlinkat` (async-signal-safe), restores the default
//! disposition and raises the signal again: the process then ends by that signal exactly as it
//! would have without maqet, and the shell reports 130, 143 or 129 as before.
//!
//! Only named partial files need this: where the destination's file system has `O_TMPFILE`,
//! the copy has no name until it is complete (see [`super::host_dir`]). SIGKILL cannot be
//! caught: a named partial stays until the next `cp` into that directory or
//! `maqet doctor --fix` removes it (both check that its pid is gone).

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// How many partial files (copies running at once in one process) can be cleaned on a signal.
const SLOTS: usize = 8;

/// One registered partial file: a duplicated directory handle and the name in it.
struct Registered {
    dir: OwnedFd,
    name: CString,
}

static REGISTERED: [AtomicPtr<Registered>; SLOTS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; SLOTS];
/// Set by the handler before it reads a slot, so a slot's memory is then never freed.
static HANDLING: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// The signals that end a `cp` which should leave nothing behind.
const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(signal: libc::c_int) {
    HANDLING.store(true, Ordering::SeqCst);
    for slot in &REGISTERED {
        let entry = slot.load(Ordering::SeqCst);
        if !entry.is_null() {
            // SAFETY: a registered entry is never freed once HANDLING is set (see `Drop`);
            // unlinkat is async-signal-safe.
            unsafe {
                libc::unlinkat((*entry).dir.as_raw_fd(), (*entry).name.as_ptr(), 0);
            }
        }
    }
    // SAFETY: signal and raise are async-signal-safe; the raised signal is blocked until this
    // handler returns, and then ends the process with the default action.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

fn install_handlers() {
    INSTALL.call_once(|| {
        for signal in SIGNALS {
            // SAFETY: plain sigaction calls with zeroed, then filled, structures.
            unsafe {
                let mut current: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, ptr::null(), &mut current) != 0
                    || current.sa_sigaction != libc::SIG_DFL
                {
                    continue;
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, ptr::null_mut());
            }
        }
    });
}

/// Keeps one partial file registered for removal on a signal until dropped.
pub struct InterruptCleanup {
    slot: Option<usize>,
}

impl InterruptCleanup {
    /// Registers `name` in the directory `dir`. Without a free slot (or a handle to duplicate)
    /// the file is simply not cleaned on a signal; the stale-partial sweep still finds it.
    pub fn register(dir: &OwnedFd, name: &OsStr) -> InterruptCleanup {
        install_handlers();
        let (Ok(dir), Ok(name)) = (dir.try_clone(), CString::new(name.as_bytes())) else {
            return InterruptCleanup { slot: None };
        };
        let entry = Box::into_raw(Box::new(Registered { dir, name }));
        for (index, slot) in REGISTERED.iter().enumerate() {
            if slot
                .compare_exchange(ptr::null_mut(), entry, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return InterruptCleanup { slot: Some(index) };
            }
        }
        // SAFETY: `entry` came from Box::into_raw above and was never published.
        drop(unsafe { Box::from_raw(entry) });
        InterruptCleanup { slot: None }
    }
}

impl Drop for InterruptCleanup {
    fn drop(&mut self) {
        let Some(index) = self.slot else { return };
        let entry = REGISTERED[index].swap(ptr::null_mut(), Ordering::SeqCst);
        // A handler that is running may be reading it: then the process is about to end, so
        // the entry is leaked rather than freed under the handler.
        if !entry.is_null() && !HANDLING.load(Ordering::SeqCst) {
            // SAFETY: `entry` came from Box::into_raw in `register` and is no longer published.
            drop(unsafe { Box::from_raw(entry) });
        }
    }
}
