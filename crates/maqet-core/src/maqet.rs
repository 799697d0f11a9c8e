//! The `Maqet` facade and its builder.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use maqet_state::StateDb;

use crate::dirs::{DirOverrides, Dirs, Settings, create_private_dir};
use crate::registry::{self, Args};
use crate::{ErrorKind, MaqetError};

/// The maqet API: every command is a method here (see the registry for the list).
///
/// Not `Sync`: use one `Maqet` per thread. Cheap to build; the state database opens on first use.
pub struct Maqet {
    dirs: Dirs,
    settings: Settings,
    runner_path: Option<PathBuf>,
    db: OnceCell<StateDb>,
}

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
    pub fn db(&self) -> Result<&StateDb, MaqetError> {
        if let Some(db) = self.db.get() {
            return Ok(db);
        }
        create_private_dir(&self.dirs.data)?;
        let db = StateDb::open(&self.dirs.state_db())?;
        Ok(self.db.get_or_init(|| db))
    }

    /// Calls a registered command by name (`"ls"`, `"qmp keys"`) with JSON arguments keyed
    /// by parameter name, and returns its JSON result.
    pub fn call(&self, command: &str, args: serde_json::Value) -> Result<serde_json::Value, MaqetError> {
        let method = registry::find(command).ok_or_else(|| {
            MaqetError::new(
                ErrorKind::NotFound,
                format!("there is no maqet command `{command}`; `maqet --help` lists them"),
            )
        })?;
        let mut args = Args::new(command, args)?;
        (method.invoke)(self, &mut args).map(|out| out.value)
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
