//! maqet-runner: the per-VM supervisor process and the code that starts, watches and stops it.
//!
//! Every running VM has one `maqet-runner` process. It launches QEMU (or re-adopts a QEMU whose
//! runner died), serves a QMP multiplexer socket that any number of clients may use at once,
//! records the VM's status transitions and QMP events, and cleans up when QEMU exits. QEMU
//! never dies with its runner: killing the runner (even with `SIGTERM`) leaves the VM running,
//! and [`adopt`] gives it a new runner.
//!
//! This library is the caller's side: [`find_runner_executable`], [`start`], [`adopt`] and
//! [`stop`], plus the file [`layout`] of a VM and [`process`] identities (PID + start time, so a
//! reused PID is never taken for QEMU or signalled).
//!
//! ```no_run
//! use std::time::Duration;
//! use maqet_runner::{LaunchSpec, StopOptions, find_runner_executable, layout::VmPaths, start, stop};
//!
//! # async fn demo() -> Result<(), maqet_runner::RunnerError> {
//! let paths = VmPaths::new("/run/user/1000/maqet/vms/0b6e", "/home/me/.local/share/maqet/vms/web");
//! let mut qemu_argv = vec!["qemu-system-x86_64".to_owned(), "-m".into(), "512M".into()];
//! qemu_argv.extend(paths.control_args());
//! let spec = LaunchSpec {
//!     vm_id: "0b6e".into(),
//!     vm_name: "web".into(),
//!     db_path: "/home/me/.local/share/maqet/state.db".into(),
//!     paths,
//!     qemu_argv,
//!     swtpm: false,
//! };
//! let runner = find_runner_executable(None)?;
//! let started = start(&runner, &spec, Duration::from_secs(30))?;
//! println!("QEMU pid {}, QMP at {}", started.qemu.pid, started.qmp_socket.display());
//!
//! let opts = StopOptions { timeout: Duration::from_secs(30), ..StopOptions::default() };
//! let outcome = stop(&started.qmp_socket, &started.qemu, Some(&started.runner), &opts, &mut |msg| {
//!     eprintln!("{msg}")
//! })
//! .await?;
//! println!("stopped: {}", outcome.method);
//! # Ok(())
//! # }
//! ```

pub mod agent_blocking;
pub mod agent_client;
mod error;
mod exit_wait;
pub mod layout;
mod locate;
pub mod name_link;
pub mod process;
pub mod qmp_gate;
mod spec;
mod start;
mod stop;
mod stop_graceful;
pub mod swtpm;

pub use error::{ErrorKind, RemoteText, RunnerError};
pub use locate::{RUNNER_ENV, RUNNER_NAME, find_runner_executable};
pub use spec::{AdoptSpec, LaunchSpec, Started};
#[doc(hidden)]
pub use spec::{FailureKind, ReadyLine, StartFailure};
pub use start::{adopt, start};
pub use stop::{PRESS_INTERVAL, StopMethod, StopOptions, StopOutcome, stop};
