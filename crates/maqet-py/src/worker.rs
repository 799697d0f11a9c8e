//! Runs core calls on worker threads so Python keeps running and Ctrl-C is seen while they wait.
//!
//! `maqet_core::Maqet` is neither `Send` nor `Sync`, so each worker thread builds its own from the
//! shared builder and keeps it (its database connection and tokio runtime) for later calls. A call
//! takes an idle worker (or starts one), hands it the job, and waits for the answer with the GIL
//! released, checking for signals every [`POLL`]. On Ctrl-C the caller gets `KeyboardInterrupt`
//! at once; the job finishes in the background (the core's own steps keep the state consistent)
//! and that worker then ends. After `fork` the workers of the parent do not exist in the child:
//! the pool notices the new PID and starts afresh, never touching the parent's threads.

use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use maqet_core::{Maqet as CoreMaqet, MaqetBuilder, MaqetError};
use pyo3::prelude::*;

/// How often a waiting call checks for signals (Ctrl-C).
const POLL: Duration = Duration::from_millis(50);
/// Idle workers kept per `Maqet` object.
const MAX_IDLE: usize = 8;

type Job = Box<dyn FnOnce(Result<&CoreMaqet, &MaqetError>) + Send>;

struct Worker {
    jobs: mpsc::Sender<Job>,
}

impl Worker {
    fn spawn(builder: MaqetBuilder) -> std::io::Result<Worker> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("maqet-worker".into())
            .spawn(move || {
                let maqet = builder.build();
                for job in queue {
                    job(maqet.as_ref());
                }
            })?;
        Ok(Worker { jobs })
    }
}

struct Idle {
    pid: u32,
    workers: Vec<Worker>,
}

/// The workers of one Python `Maqet` object.
pub struct Pool {
    builder: MaqetBuilder,
    idle: Mutex<Idle>,
}

/// A failure of the call machinery itself, or of the core call.
pub enum CallError {
    /// The core returned an error.
    Maqet(MaqetError),
    /// A Python exception (KeyboardInterrupt, or a worker that could not start).
    Python(PyErr),
}

impl From<PyErr> for CallError {
    fn from(err: PyErr) -> CallError {
        CallError::Python(err)
    }
}

impl Pool {
    /// A pool building each worker's core `Maqet` from `builder`.
    pub fn new(builder: MaqetBuilder) -> Pool {
        Pool {
            builder,
            idle: Mutex::new(Idle {
                pid: std::process::id(),
                workers: Vec::new(),
            }),
        }
    }

    /// Takes an idle worker of this process, or starts one. Called with the GIL held, so no
    /// other thread is inside this lock when the process forks.
    fn take(&self) -> Result<Worker, CallError> {
        let pid = std::process::id();
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.pid != pid {
                // The parent's worker threads are not in this process; forget their channels
                // without running any of their destructors.
                std::mem::forget(std::mem::take(&mut idle.workers));
                idle.pid = pid;
            }
            if let Some(worker) = idle.workers.pop() {
                return Ok(worker);
            }
        }
        Worker::spawn(self.builder.clone()).map_err(|e| {
            CallError::Python(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "cannot start a maqet worker thread: {e}"
            )))
        })
    }

    fn give_back(&self, worker: Worker) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.pid == std::process::id() && idle.workers.len() < MAX_IDLE {
            idle.workers.push(worker);
        }
    }

    /// Runs `f` with a core `Maqet` on a worker thread, the GIL released, and returns its result.
    pub fn run<T, F>(&self, py: Python<'_>, f: F) -> Result<T, CallError>
    where
        T: Send + 'static,
        F: FnOnce(&CoreMaqet) -> Result<T, MaqetError> + Send + 'static,
    {
        let worker = self.take()?;
        let (reply, answer) = mpsc::sync_channel::<Result<T, MaqetError>>(1);
        let job: Job = Box::new(move |maqet| {
            let result = match maqet {
                Ok(m) => f(m),
                Err(e) => Err(MaqetError::new(e.kind(), e.to_string())),
            };
            let _ = reply.send(result);
        });
        if worker.jobs.send(job).is_err() {
            return Err(CallError::Python(
                pyo3::exceptions::PyRuntimeError::new_err(
                    "a maqet worker thread ended unexpectedly",
                ),
            ));
        }
        let mut answer = answer;
        loop {
            // `Receiver` is not `Sync`: move it into the GIL-free closure and back out.
            let (back, received) = py.detach(move || {
                let received = answer.recv_timeout(POLL);
                (answer, received)
            });
            answer = back;
            match received {
                Ok(result) => {
                    self.give_back(worker);
                    return result.map_err(CallError::Maqet);
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Dropping `worker` on an interrupt ends that thread once its job is done.
                    py.check_signals()?;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(CallError::Python(
                        pyo3::exceptions::PyRuntimeError::new_err(
                            "a maqet worker thread panicked; this is a bug in maqet",
                        ),
                    ));
                }
            }
        }
    }
}
