//! The `Maqet` facade and its builder.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use maqet_state::StateDb;

use crate::dirs::{DirOverrides, Dirs, create_private_dir};
use crate::registry::{self, Args, Output};
use crate::settings::Settings;
use crate::{ErrorKind, MaqetError};

/// The maqet API: every command is a method here (see the registry for the list).
///
/// Not `Sync`: use one `Maqet` per thread. Cheap to build; the state database opens on first use.
pub struct Maqet {
    dirs: Dirs,
    settings: Settings,
    runner_path: Option<PathBuf>,
    db: OnceCell<StateDb>,
    /// VMs whose rows were put back from their record files when the database was opened.
    recovered: std::cell::RefCell<Vec<String>>,
    runtime: OnceCell<tokio::runtime::Runtime>,
    progress: std::cell::RefCell<Option<ProgressHook>>,
    lines: std::cell::RefCell<Option<ProgressHook>>,
}

/// Receives short status lines while a command waits (the CLI shows them as a spinner).
pub type ProgressHook = Box<dyn Fn(&str)>;

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
            dirs,
            settings,
            runner_path: self.runner_path,
            db: OnceCell::new(),
            recovered: std::cell::RefCell::new(Vec::new()),
            runtime: OnceCell::new(),
            progress: std::cell::RefCell::new(None),
            lines: std::cell::RefCell::new(None),
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
        &self.dirs
    }

    /// The settings read from `maqet.conf`.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The runner executable chosen in the builder, if any.
    pub fn runner_override(&self) -> Option<&Path> {
        self.runner_path.as_deref()
    }

    /// The state database, opened (and created) on first use.
    ///
    /// On opening: VM directories of older versions are linked under the VM ids (once), an
    /// empty registry next to VM record files is refilled from them (a lost database never
    /// shows as "no VMs"), and an online backup is taken when the newest is old.
    pub fn db(&self) -> Result<&StateDb, MaqetError> {
        if let Some(db) = self.db.get() {
            return Ok(db);
        }
        create_private_dir(&self.dirs.data)?;
        let db = StateDb::open(&self.dirs.state_db())?;
        let db = self.db.get_or_init(|| db);
        self.migrate_legacy_layout(db);
        if db.has_vms().is_ok_and(|any| !any) {
            let restored = self.restore_missing_rows(db).restored;
            if !restored.is_empty() {
                let message = format!(
                    "the state database had no VMs; restored {} from their record files: {}",
                    restored.len(),
                    restored.join(", ")
                );
                tracing::warn!("{message}");
                self.progress(&message);
            }
            self.recovered.borrow_mut().extend(restored);
        }
        self.backup_if_due(db);
        Ok(db)
    }

    /// Whether the state database has been opened by this instance.
    pub(crate) fn db_is_open(&self) -> bool {
        self.db.get().is_some()
    }

    /// Takes the names of VMs restored from their record files when the database was opened.
    pub(crate) fn take_recovered(&self) -> Vec<String> {
        std::mem::take(&mut *self.recovered.borrow_mut())
    }

    /// Sets the hook that receives progress lines during long waits.
    pub fn set_progress_hook(&self, hook: Option<ProgressHook>) {
        *self.progress.borrow_mut() = hook;
    }

    /// Reports progress to the hook, if one is set.
    pub fn progress(&self, message: &str) {
        if let Some(hook) = self.progress.borrow().as_ref() {
            hook(message);
        }
    }

    /// Sets the hook that receives streamed output lines (`events --follow`); without one,
    /// such commands return what they saw at the end.
    pub fn set_line_hook(&self, hook: Option<ProgressHook>) {
        *self.lines.borrow_mut() = hook;
    }

    /// Streams one output line to the hook; returns false when there is no hook.
    pub fn emit_line(&self, line: &str) -> bool {
        match self.lines.borrow().as_ref() {
            Some(hook) => {
                hook(line);
                true
            }
            None => false,
        }
    }

    /// Runs a future to completion on this instance's single-threaded tokio runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output, MaqetError> {
        let runtime = match self.runtime.get() {
            Some(rt) => rt,
            None => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| MaqetError::io("cannot start the async runtime", e))?;
                self.runtime.get_or_init(|| rt)
            }
        };
        Ok(runtime.block_on(future))
    }

    /// Calls a registered command by name (`"ls"`, `"qmp keys"`) with JSON arguments keyed
    /// by parameter name, and returns its JSON result.
    pub fn call(
        &self,
        command: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, MaqetError> {
        let method = registry::find(command).ok_or_else(|| {
            MaqetError::new(
                ErrorKind::NotFound,
                format!("there is no maqet command `{command}`; `maqet --help` lists them"),
            )
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
