//! How a command call runs: blocking (`.send()`) or as a future (`.await`), and the hooks it
//! reports to.
//!
//! Commands are synchronous code that blocks on sockets and child processes, so the future
//! form runs the same code on tokio's blocking pool ([`CallFuture`]); the blocking form runs it
//! on the calling thread ([`run_blocking`]). Inside a command, [`Maqet::block_on`] drives an
//! async step with the handle's own runtime ([`park_on`] parks the calling thread; the runtime's
//! thread wakes it), so no command ever starts a runtime inside another one.
//!
//! [`Maqet::block_on`]: crate::Maqet::block_on

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::maqet::ProgressHook;
use crate::{ErrorKind, MaqetError};

/// Where one call reports while it runs: short progress lines (the CLI's spinner) and the
/// lines a streaming command prints (`events --follow`). Without a line hook such commands
/// return what they saw at the end.
#[derive(Clone, Default)]
pub struct CallHooks {
    pub(crate) progress: Option<ProgressHook>,
    pub(crate) lines: Option<ProgressHook>,
}

impl CallHooks {
    /// No hooks.
    pub fn new() -> CallHooks {
        CallHooks::default()
    }

    /// Sends progress lines to `hook`.
    pub fn on_progress(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> CallHooks {
        self.progress = Some(Arc::new(hook));
        self
    }

    /// Sends streamed output lines to `hook`.
    pub fn on_line(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> CallHooks {
        self.lines = Some(Arc::new(hook));
        self
    }
}

impl std::fmt::Debug for CallHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallHooks")
            .field("progress", &self.progress.is_some())
            .field("lines", &self.lines.is_some())
            .finish()
    }
}

/// Wakes a thread parked in [`park_on`].
struct Unparker(std::thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking between polls. The future's I/O must be driven
/// elsewhere (by the runtime entered around this call).
pub(crate) fn park_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unparker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park();
    }
}

/// Runs a command call on this thread (the `.send()` of every builder).
///
/// On a worker of a multi-thread tokio runtime the call runs in `block_in_place`, so the
/// runtime's other tasks move to other workers instead of stalling; elsewhere (a plain thread,
/// a `spawn_blocking` thread, a current-thread runtime) it simply blocks this thread. In async
/// code, `.await` the builder instead.
pub fn run_blocking<T>(call: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
    }
}

type Call<T> = Box<dyn FnOnce() -> Result<T, MaqetError> + Send + 'static>;

enum State<T> {
    /// Not polled yet.
    Idle(Option<Call<T>>),
    /// Running on the tokio blocking pool.
    Pool(JoinHandle<Result<T, MaqetError>>),
    /// Running on a thread of its own (polled outside tokio).
    Thread(oneshot::Receiver<Result<T, MaqetError>>),
}

/// A command call as a future: what `.await` on a builder gives. `Send` (for `tokio::spawn`)
/// when the command's result is.
///
/// The command starts when the future is first polled, on tokio's blocking pool (or, outside
/// a tokio runtime, on a thread of its own). Dropping the future does not stop a command that
/// has started: it runs to its end, as the CLI's would, so the VM's state stays consistent.
#[must_use = "a future does nothing until it is awaited"]
pub struct CallFuture<T> {
    state: State<T>,
}

impl<T: Send + 'static> CallFuture<T> {
    /// A future that runs `call` when first polled.
    pub fn new(call: impl FnOnce() -> Result<T, MaqetError> + Send + 'static) -> CallFuture<T> {
        CallFuture {
            state: State::Idle(Some(Box::new(call))),
        }
    }
}

impl<T> std::fmt::Debug for CallFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Idle(_) => "idle",
            State::Pool(_) => "running on the blocking pool",
            State::Thread(_) => "running on a thread",
        };
        f.debug_struct("CallFuture").field("state", &state).finish()
    }
}

fn lost(what: &str) -> MaqetError {
    MaqetError::new(
        ErrorKind::Failure,
        format!("the thread running a maqet command {what}; this is a bug in maqet"),
    )
}

impl<T: Send + 'static> Future for CallFuture<T> {
    type Output = Result<T, MaqetError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Idle(call) => {
                    let Some(call) = call.take() else {
                        return Poll::Ready(Err(lost("was started twice")));
                    };
                    this.state = match Handle::try_current() {
                        Ok(handle) => State::Pool(handle.spawn_blocking(call)),
                        Err(_) => {
                            let (reply, answer) = oneshot::channel();
                            let spawned = std::thread::Builder::new()
                                .name("maqet-call".into())
                                .spawn(move || {
                                    let _ = reply.send(call());
                                });
                            if let Err(e) = spawned {
                                return Poll::Ready(Err(MaqetError::io(
                                    "cannot start a thread for the command",
                                    e,
                                )));
                            }
                            State::Thread(answer)
                        }
                    };
                }
                State::Pool(handle) => {
                    return Pin::new(handle).poll(cx).map(|joined| match joined {
                        Ok(result) => result,
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        Err(_) => Err(lost("was cancelled")),
                    });
                }
                State::Thread(answer) => {
                    return Pin::new(answer)
                        .poll(cx)
                        .map(|received| received.unwrap_or_else(|_| Err(lost("panicked"))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_future_outside_tokio_runs_on_its_own_thread() {
        let caller = std::thread::current().id();
        let future = CallFuture::new(move || Ok(std::thread::current().id() != caller));
        assert!(park_on(future).unwrap());
    }

    #[test]
    fn a_call_future_in_tokio_runs_on_the_blocking_pool() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let caller = std::thread::current().id();
        let (elsewhere, in_tokio) = runtime
            .block_on(CallFuture::new(move || {
                Ok((
                    std::thread::current().id() != caller,
                    Handle::try_current().is_ok(),
                ))
            }))
            .unwrap();
        assert!(elsewhere && in_tokio);
        // An error of the command is the future's error.
        let err = runtime
            .block_on(CallFuture::<()>::new(|| {
                Err(MaqetError::invalid("no such thing"))
            }))
            .unwrap_err();
        assert_eq!(err.to_string(), "no such thing");
    }

    #[test]
    fn run_blocking_on_a_worker_blocks_in_place() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // With one worker, a plain blocking call inside a task would stall the timer task;
        // `block_in_place` hands the worker's other tasks on.
        let waited = runtime.block_on(async {
            let timer = tokio::spawn(async {
                let start = std::time::Instant::now();
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                start.elapsed()
            });
            tokio::spawn(async {
                run_blocking(|| std::thread::sleep(std::time::Duration::from_millis(400)))
            })
            .await
            .unwrap();
            timer.await.unwrap()
        });
        assert!(waited < std::time::Duration::from_millis(300), "{waited:?}");
    }
}
