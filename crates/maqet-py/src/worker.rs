//! Runs core calls on a thread of their own so Python keeps running and Ctrl-C is seen while
//! they wait.
//!
//! `maqet_core::Maqet` is a `Clone + Send + Sync` handle, so every Python `Maqet` keeps one and
//! each call runs a clone of it on a new thread (which drives QMP and the guest agent through
//! the handle's own runtime) while the caller waits for the answer with the GIL released,
//! checking for signals every [`POLL`]. On Ctrl-C the caller gets `KeyboardInterrupt` at once;
//! the call finishes in the background (the core's own steps keep the state consistent). After
//! `fork` the parent's handle (its database connection and runtime threads) is not touched in
//! the child: the first call there notices the new PID and builds a fresh handle.

use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use maqet_core::{Maqet as CoreMaqet, MaqetBuilder, MaqetError};
use pyo3::prelude::*;

/// How often a waiting call checks for signals (Ctrl-C).
const POLL: Duration = Duration::from_millis(50);

/// The core handle of one Python `Maqet` object, per process.
pub struct Core {
    builder: MaqetBuilder,
    current: Mutex<(u32, Option<CoreMaqet>)>,
}

/// A failure of the call machinery itself, or of the core call.
pub enum CallError {
    /// The core returned an error.
    Maqet(MaqetError),
    /// A Python exception (KeyboardInterrupt, or a thread that could not start).
    Python(PyErr),
}

impl From<PyErr> for CallError {
    fn from(err: PyErr) -> CallError {
        CallError::Python(err)
    }
}

impl From<MaqetError> for CallError {
    fn from(err: MaqetError) -> CallError {
        CallError::Maqet(err)
    }
}

impl Core {
    /// Builds core handles from `builder` (already built once, so it is known to work).
    pub fn new(builder: MaqetBuilder) -> Core {
        Core {
            builder,
            current: Mutex::new((std::process::id(), None)),
        }
    }

    /// This process's handle. Called with the GIL held, so no other thread is inside this
    /// lock when the process forks.
    fn handle(&self) -> Result<CoreMaqet, MaqetError> {
        let pid = std::process::id();
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.0 != pid {
            // The parent's runtime threads are not in this process and its database
            // connection is not ours: forget that handle without running its destructors.
            std::mem::forget(current.1.take());
            current.0 = pid;
        }
        match &current.1 {
            Some(maqet) => Ok(maqet.clone()),
            None => {
                let maqet = self.builder.clone().build()?;
                current.1 = Some(maqet.clone());
                Ok(maqet)
            }
        }
    }

    /// Runs `f` with the core handle on a thread of its own, the GIL released, and returns
    /// its result.
    pub fn run<T, F>(&self, py: Python<'_>, f: F) -> Result<T, CallError>
    where
        T: Send + 'static,
        F: FnOnce(&CoreMaqet) -> Result<T, MaqetError> + Send + 'static,
    {
        let maqet = self.handle()?;
        let (reply, answer) = mpsc::sync_channel::<Result<T, MaqetError>>(1);
        std::thread::Builder::new()
            .name("maqet-call".into())
            .spawn(move || {
                let _ = reply.send(f(&maqet));
            })
            .map_err(|e| {
                CallError::Python(pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "cannot start a thread for the maqet call: {e}"
                )))
            })?;
        let mut answer = answer;
        loop {
            // `Receiver` is not `Sync`: move it into the GIL-free closure and back out.
            let (back, received) = py.detach(move || {
                let received = answer.recv_timeout(POLL);
                (answer, received)
            });
            answer = back;
            match received {
                Ok(result) => return result.map_err(CallError::Maqet),
                // On an interrupt the thread finishes its call on its own.
                Err(RecvTimeoutError::Timeout) => py.check_signals()?,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(CallError::Python(
                        pyo3::exceptions::PyRuntimeError::new_err(
                            "a maqet call's thread panicked; this is a bug in maqet",
                        ),
                    ));
                }
            }
        }
    }
}
