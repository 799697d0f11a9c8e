//! The crate's error type and the coarse kinds callers map to exit codes.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// Everything that can go wrong while reading or writing the state database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The directory that should hold the database could not be created.
    #[error("cannot create the state directory {path}; check that its parent is writable")]
    CreateDir {
        /// Directory that could not be created.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// SQLite could not open the database file.
    #[error("cannot open the state database {path}; check the path and its permissions")]
    Open {
        /// Database file.
        path: PathBuf,
        /// Underlying SQLite error.
        #[source]
        source: SqliteError,
    },

    /// The file exists but is not a maqet state database.
    #[error(
        "{path} is not a maqet state database; `maqet state rebuild` moves it aside and \
         recreates the registry from each VM's record file"
    )]
    NotADatabase {
        /// Offending file.
        path: PathBuf,
        /// SQLite's complaint, when there was one.
        #[source]
        source: Option<SqliteError>,
    },

    /// The database was written by a newer maqet with a schema this binary does not know.
    #[error(
        "the state database {path} has schema version {found}, but this maqet only knows up to \
         version {supported}; upgrade maqet"
    )]
    SchemaTooNew {
        /// Database file.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Newest version this binary can use.
        supported: u32,
    },

    /// A schema migration failed; the database was left at its old version.
    #[error(
        "cannot upgrade the state database {path} from schema version {from}; it was left \
         unchanged, and backups of older versions are in {backups}"
    )]
    Migration {
        /// Database file.
        path: PathBuf,
        /// Version the database was at.
        from: u32,
        /// Directory holding the backups.
        backups: PathBuf,
        /// Underlying migration error.
        #[source]
        source: Box<rusqlite_migration::Error>,
    },

    /// The pre-migration backup could not be written.
    #[error(
        "cannot back up the state database to {path} before upgrading it; check free space \
         and permissions of that directory"
    )]
    Backup {
        /// Backup file that could not be written.
        path: PathBuf,
        /// Underlying SQLite error.
        #[source]
        source: SqliteError,
    },

    /// Listing or pruning old backups failed.
    #[error("cannot manage the state backups in {path}; check that directory's permissions")]
    BackupDir {
        /// Backup directory.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Another process held the database lock for longer than the busy timeout.
    #[error(
        "the state database stayed locked by another maqet process while trying to {action}; \
         retry, or look for a stuck maqet process"
    )]
    Busy {
        /// What this process was doing.
        action: &'static str,
        /// Underlying SQLite error.
        #[source]
        source: SqliteError,
    },

    /// Another process held the upgrade lock of this database for too long.
    #[error(
        "another maqet process kept upgrading the state database {path} for too long; retry, or \
         look for a stuck maqet process"
    )]
    UpgradeLocked {
        /// Database file.
        path: PathBuf,
    },

    /// SQLite reported damage in the database file.
    #[error(
        "the state database is damaged (while trying to {action}); `maqet state rebuild` \
         recreates it from each VM's record file"
    )]
    Corrupt {
        /// What this process was doing.
        action: &'static str,
        /// Underlying SQLite error.
        #[source]
        source: SqliteError,
    },

    /// A stored value could not be read back (damaged, or written by a newer maqet).
    #[error(
        "VM {vm_id} has a {column} value this maqet cannot read; a newer maqet may have written \
         it, so upgrade maqet or run `maqet doctor`"
    )]
    InvalidStoredValue {
        /// Id of the VM row.
        vm_id: String,
        /// Column holding the bad value.
        column: &'static str,
        /// Why it could not be read.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Another VM already has this name.
    #[error(
        "a VM named '{name}' already exists (id {existing_id}); pick another name or remove it first"
    )]
    NameTaken {
        /// Requested name.
        name: String,
        /// Id of the VM that has it.
        existing_id: String,
    },

    /// No VM has this name or id.
    #[error("no VM is named '{ident}' or has that id; run `maqet ls` to see the VMs")]
    VmNotFound {
        /// Name or id that was looked up.
        ident: String,
    },

    /// A status string is not one of the known statuses.
    #[error(
        "'{value}' is not a VM status; use one of created, running, paused, stopped, saved, crashed, failed"
    )]
    UnknownStatus {
        /// The string that was given.
        value: String,
    },

    /// A path meant for the registry is relative.
    #[error("the path {path} is relative; maqet records absolute paths only")]
    RelativePath {
        /// Offending path.
        path: PathBuf,
    },

    /// A path meant for the registry is not valid UTF-8.
    #[error("the path {path:?} is not valid UTF-8; maqet can only record UTF-8 paths")]
    NonUtf8Path {
        /// Offending path.
        path: PathBuf,
    },

    /// A VM configuration could not be turned into JSON.
    #[error("cannot store the configuration of VM '{vm}' as JSON")]
    EncodeConfig {
        /// VM name or id.
        vm: String,
        /// Underlying serde error.
        #[source]
        source: serde_json::Error,
    },

    /// The disk under the database is full or failing.
    #[error(
        "the state database could not {action}: the disk holding maqet's data directory is full or failing; free some space and retry"
    )]
    DiskFull {
        /// What this process was doing.
        action: &'static str,
        /// Underlying SQLite error.
        #[source]
        source: SqliteError,
    },

    /// A VM's record file (`vm.json` in its data directory) could not be written or read.
    #[error(
        "cannot write or read the VM record file {path}; check free space and the permissions of its directory"
    )]
    VmFile {
        /// The record file.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A VM's record file exists but cannot be understood.
    #[error("the VM record file {path} is damaged or from a newer maqet; move it aside")]
    BadVmFile {
        /// The record file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Any other SQLite failure.
    #[error("the state database failed to {action}")]
    Sqlite {
        /// What this process was doing.
        action: &'static str,
        /// Underlying SQLite error.
        #[source]
        source: SqliteError,
    },
}

/// SQLite's error, printed as SQLite's own sentence.
///
/// `rusqlite` gives a failure with a message (`database is locked`) its numeric code as the
/// source (`Error code 5: The database file is locked`), which says the same again; this
/// wrapper ends the chain at the sentence, so no report repeats it. The error itself stays
/// available with [`SqliteError::inner`].
#[derive(Debug)]
pub struct SqliteError(rusqlite::Error);

impl SqliteError {
    /// The `rusqlite` error.
    pub fn inner(&self) -> &rusqlite::Error {
        &self.0
    }

    /// SQLite's primary result code, when the error came from SQLite.
    pub fn sqlite_error_code(&self) -> Option<ErrorCode> {
        self.0.sqlite_error_code()
    }
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SqliteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            rusqlite::Error::SqliteFailure(..) => None,
            other => other.source(),
        }
    }
}

impl From<rusqlite::Error> for SqliteError {
    fn from(err: rusqlite::Error) -> SqliteError {
        SqliteError(err)
    }
}

/// Coarse classes of [`StateError`], for mapping to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The VM does not exist.
    NotFound,
    /// The name is already used.
    AlreadyExists,
    /// The database lock was held too long (a timeout).
    Busy,
    /// The database file is damaged or not a database.
    Corrupt,
    /// A file-system problem.
    Io,
    /// Anything else (bad input, newer schema, ...).
    Failure,
}

impl StateError {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::VmNotFound { .. } => ErrorKind::NotFound,
            Self::NameTaken { .. } => ErrorKind::AlreadyExists,
            Self::Busy { .. } | Self::UpgradeLocked { .. } => ErrorKind::Busy,
            Self::NotADatabase { .. }
            | Self::Corrupt { .. }
            | Self::InvalidStoredValue { .. }
            | Self::BadVmFile { .. } => ErrorKind::Corrupt,
            Self::CreateDir { .. }
            | Self::Open { .. }
            | Self::Backup { .. }
            | Self::BackupDir { .. }
            | Self::DiskFull { .. }
            | Self::VmFile { .. } => ErrorKind::Io,
            Self::Sqlite { source, .. } => match source.sqlite_error_code() {
                Some(
                    ErrorCode::SystemIoFailure
                    | ErrorCode::DiskFull
                    | ErrorCode::CannotOpen
                    | ErrorCode::PermissionDenied
                    | ErrorCode::ReadOnly,
                ) => ErrorKind::Io,
                _ => ErrorKind::Failure,
            },
            Self::SchemaTooNew { .. }
            | Self::Migration { .. }
            | Self::UnknownStatus { .. }
            | Self::RelativePath { .. }
            | Self::NonUtf8Path { .. }
            | Self::EncodeConfig { .. } => ErrorKind::Failure,
        }
    }
}

/// True when SQLite gave up waiting for a lock.
pub(crate) fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Wraps a SQLite error, sorting lock timeouts and damage into their own variants.
pub(crate) fn sql(action: &'static str) -> impl Fn(rusqlite::Error) -> StateError {
    move |source| match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StateError::Busy {
            action,
            source: source.into(),
        },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StateError::Corrupt {
            action,
            source: source.into(),
        },
        Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure) => StateError::DiskFull {
            action,
            source: source.into(),
        },
        _ => StateError::Sqlite {
            action,
            source: source.into(),
        },
    }
}

/// Like [`sql`], for the first statements on a file, where "not a database" means the wrong file.
pub(crate) fn opening(path: &Path, action: &'static str) -> impl Fn(rusqlite::Error) -> StateError {
    move |source| match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StateError::NotADatabase {
            path: path.to_path_buf(),
            source: Some(source.into()),
        },
        _ => sql(action)(source),
    }
}

/// The error of creating a backup file in `dir`.
pub(crate) fn backup_dir_failed(dir: &Path) -> impl Fn(std::io::Error) -> StateError + '_ {
    move |source| StateError::BackupDir {
        path: dir.to_path_buf(),
        source,
    }
}

/// The error of copying the database into the backup `target`.
pub(crate) fn backup_failed(target: &Path) -> impl Fn(rusqlite::Error) -> StateError + '_ {
    move |source| StateError::Backup {
        path: target.to_path_buf(),
        source: source.into(),
    }
}
