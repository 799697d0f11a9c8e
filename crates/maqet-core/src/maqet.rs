//! The `Maqet` facade and its builder.
//!
//! A [`Maqet`] is a cheap handle: an `Arc` around the directories, settings, the lazily opened
//! state database and the tokio runtime its commands' network steps run on. Clones share all
//! of that, so one `Maqet` can go into many threads or tokio tasks. The only per-handle part is
//! the [`CallHooks`] a call reports to, which [`Maqet::with_hooks`] sets on a copy (and each
//! command builder's `.on_progress(..)`/`.on_line(..)` on the copy it owns).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use maqet_state::StateDb;

use crate::call::{CallHooks, park_on};
use crate::dirs::{DirOverrides, Dirs, create_private_dir};
use crate::registry::{self, Args, Output};
use crate::settings::Settings;
use crate::{ErrorKind, MaqetError};

/// The maqet API: every command is a method here (see the registry for the list).
///
/// `Clone + Send + Sync`: clone it into threads or tokio tasks (a clone is an `Arc` bump and
/// shares the database connection). Cheap to build; the state database opens on first use.
#[derive(Clone)]
pub struct Maqet {
    shared: Arc<Shared>,
    hooks: CallHooks,
}

/// What every clone of one [`Maqet`] shares.
struct Shared {
    dirs: Dirs,
    settings: Settings,
    runner_path: Option<PathBuf>,
    db: OnceLock<StateDb>,
    /// Held while the database is opened, so its one-time setup runs once.
    opening: Mutex<()>,
    /// VMs whose rows were put back from their record files when the database was opened.
    recovered: Mutex<Vec<String>>,
    /// The runtime that drives the commands' sockets and timers (built on first use).
    runtime: OnceLock<tokio::runtime::Runtime>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last clone may be dropped inside an async task, where a runtime may not wait
        // for its threads: let them end on their own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Maqet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maqet")
            .field("dirs", &self.shared.dirs)
            .finish_non_exhaustive()
    }
}

/// Receives short status lines while a command waits (the CLI shows them as a spinner), or
/// the lines a streaming command (`events --follow`) prints.
pub type ProgressHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Builds a [`Maqet`] with chosen directories.
#[derive(Debug, Default, Clone)]
pub struct MaqetBuilder {
    overrides: DirOverrides,
    settings: Option<Settings>,
    runner_path: Option<PathBuf>,
}

impl MaqetBuilder {
    /// Data directory (database, disks, logs).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.overrides.data = Some(dir.into());
        self
    }

    /// Config directory (where `maqet.conf` is looked for).
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.overrides.config = Some(dir.into());
        self
    }

    /// Runtime directory (sockets and locks of running VMs).
    pub fn runtime_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.overrides.runtime = Some(dir.into());
        self
    }

    /// The `maqet-runner` executable to start VMs with.
    pub fn runner_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.runner_path = Some(path.into());
        self
    }

    /// Uses these settings instead of discovering `maqet.conf`.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Resolves directories and settings. Nothing is written to disk yet.
    pub fn build(self) -> Result<Maqet, MaqetError> {
        let settings = match self.settings {
            Some(s) => s,
            None => Settings::discover(self.overrides.config.as_deref())?,
        };
        let dirs = Dirs::resolve(&self.overrides, &settings);
        Ok(Maqet {
            shared: Arc::new(Shared {
                dirs,
                settings,
                runner_path: self.runner_path,
                db: OnceLock::new(),
                opening: Mutex::new(()),
                recovered: Mutex::new(Vec::new()),
                runtime: OnceLock::new(),
            }),
            hooks: CallHooks::default(),
        })
    }
}

impl Maqet {
    /// A builder for custom directories.
    pub fn builder() -> MaqetBuilder {
        MaqetBuilder::default()
    }

    /// A `Maqet` with the default directories and `maqet.conf`.
    pub fn new() -> Result<Maqet, MaqetError> {
        Maqet::builder().build()
    }

    /// The directories in use.
    pub fn dirs(&self) -> &Dirs {
        &self.shared.dirs
    }

    /// The settings read from `maqet.conf`.
    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// The runner executable chosen in the builder, if any.
    pub fn runner_override(&self) -> Option<&Path> {
        self.shared.runner_path.as_deref()
    }

    /// The state database, opened (and created) on first use.
    ///
    /// On opening: VM directories of older versions are linked under the VM ids (once), an
    /// empty registry next to VM record files is refilled from them (a lost database never
    /// shows as "no VMs"), and an online backup is taken when the newest is old. Clones share
    /// the database; the first call that needs it opens it, the others wait for that.
    pub fn db(&self) -> Result<&StateDb, MaqetError> {
        if let Some(db) = self.shared.db.get() {
            return Ok(db);
        }
        let _opening = self
            .shared
            .opening
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(db) = self.shared.db.get() {
            return Ok(db);
        }
        create_private_dir(&self.dirs().data)?;
        let db = StateDb::open(&self.dirs().state_db())?;
        self.migrate_legacy_layout(&db);
        if db.has_vms().is_ok_and(|any| !any) {
            let restored = self.restore_missing_rows(&db).restored;
            if !restored.is_empty() {
                let message = format!(
                    "the state database had no VMs; restored {} from their record files: {}",
                    restored.len(),
                    restored.join(", ")
                );
                tracing::warn!("{message}");
                self.progress(&message);
            }
            self.shared
                .recovered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(restored);
        }
        self.backup_if_due(&db);
        Ok(self.shared.db.get_or_init(|| db))
    }

    /// Whether the state database has been opened by this instance.
    pub(crate) fn db_is_open(&self) -> bool {
        self.shared.db.get().is_some()
    }

    /// Takes the names of VMs restored from their record files when the database was opened.
    pub(crate) fn take_recovered(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .shared
                .recovered
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// A copy of this handle whose calls report to `hooks` (this one keeps its own). The CLI
    /// makes its one call through such a copy; in Rust code, prefer a command builder's
    /// `.on_progress(..)`/`.on_line(..)`.
    pub fn with_hooks(&self, hooks: CallHooks) -> Maqet {
        Maqet {
            shared: Arc::clone(&self.shared),
            hooks,
        }
    }

    /// The hooks this handle's calls report to.
    pub fn hooks(&self) -> &CallHooks {
        &self.hooks
    }

    /// Sets the hooks of this handle's calls (what a builder's `.on_progress(..)` uses).
    pub(crate) fn hooks_mut(&mut self) -> &mut CallHooks {
        &mut self.hooks
    }

    /// Reports progress to the call's progress hook, if one is set.
    pub fn progress(&self, message: &str) {
        if let Some(hook) = &self.hooks.progress {
            hook(message);
        }
    }

    /// Streams one output line to the call's line hook; returns false when there is none.
    pub fn emit_line(&self, line: &str) -> bool {
        match &self.hooks.lines {
            Some(hook) => {
                hook(line);
                true
            }
            None => false,
        }
    }

    /// Runs a future to completion, blocking this thread; its sockets and timers are driven
    /// by this handle's own runtime, so this works on any thread (a plain thread, a tokio
    /// `spawn_blocking` thread, a Python thread) and never starts a runtime inside another.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output, MaqetError> {
        let runtime = match self.shared.runtime.get() {
            Some(rt) => rt,
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("maqet-io")
                    .enable_all()
                    .build()
                    .map_err(|e| MaqetError::io("cannot start the async runtime", e))?;
                match self.shared.runtime.set(rt) {
                    Ok(()) => {}
                    // Another clone built one at the same moment: use that, drop this one.
                    Err(spare) => spare.shutdown_background(),
                }
                self.shared.runtime.get().ok_or_else(|| {
                    MaqetError::new(ErrorKind::Failure, "the async runtime could not be kept")
                })?
            }
        };
        let _context = runtime.enter();
        Ok(park_on(future))
    }

    /// Calls a registered command by name (`"ls"`, `"qmp keys"`) with JSON arguments keyed
    /// by parameter name, and returns its JSON result.
    pub fn call(
        &self,
        command: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, MaqetError> {
        let method = registry::find(command).ok_or_else(|| MaqetError::UnknownCommand {
            command: command.to_string(),
        })?;
        let mut args = Args::new(command, args)?;
        (method.invoke)(self, &mut args).map(Output::into_value)
    }

    /// Whether KVM can be used on this host (`/dev/kvm` opens read-write).
    pub fn kvm_usable() -> bool {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok()
    }
}

/// A `Maqet` whose data, config and runtime directories are inside `dir`, with default
/// settings (no `maqet.conf` looked for): for unit tests.
#[cfg(test)]
pub(crate) fn maqet_in(dir: &Path) -> Maqet {
    Maqet::builder()
        .data_dir(dir.join("data"))
        .config_dir(dir.join("config"))
        .runtime_dir(dir.join("run"))
        .settings(Settings::default())
        .build()
        .expect("a Maqet in a temporary directory")
}
