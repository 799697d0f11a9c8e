//! Writing on the host relative to an opened directory, never through a link.
//!
//! `cp` from a guest opens the destination directory once (the user's own path, so links in it
//! are followed) and then creates everything below it with `openat`/`mkdirat`/`renameat` on
//! that handle: a name from the guest is always one path component, subdirectories are opened
//! with `O_NOFOLLOW`, and a file is written without a name first and gets its own only at the
//! end, so whatever a symlink placed in the tree points at is never written.
//!
//! Where the file system supports it, that nameless file is an `O_TMPFILE` in the destination
//! directory, linked (`linkat` through `/proc/self/fd`) onto its name once complete: a copy
//! killed at any moment, even by SIGKILL, leaves nothing to see. Elsewhere (no `O_TMPFILE`,
//! no `/proc`) it is `.NAME.maqet-partial-PID` (`O_CREAT|O_EXCL|O_NOFOLLOW`), renamed at the
//! end, removed on errors and catchable signals, and swept later after SIGKILL.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use super::interrupt::InterruptCleanup;
use crate::{ErrorKind, MaqetError};

/// Where this process's open files are, to link an unnamed file by.
const PROC_SELF_FD: &str = "/proc/self/fd";
/// Set to `1` in the environment of a debug build, `cp` writes named partial files even where
/// `O_TMPFILE` works (the tests of the fallback use it).
pub const NAMED_PARTIALS_ENV: &str = "MAQET_TEST_NAMED_PARTIALS";

/// The marker between a partial file's name and the pid of the `cp` writing it.
const PARTIAL_MARK: &[u8] = b".maqet-partial-";
/// Partial names keep at most this many bytes of the final name, so they fit in `NAME_MAX`.
const PARTIAL_NAME_KEEP: usize = 200;

/// An opened host directory that files are created in.
pub struct HostDir {
    fd: OwnedFd,
    /// The directory's path, for messages and the partial-file journal.
    pub path: PathBuf,
}

fn io_error(message: String, errno: Errno) -> MaqetError {
    MaqetError::io(message, std::io::Error::from(errno))
}

impl HostDir {
    /// Opens a directory the user named (links in the path are followed: it is their path).
    pub fn open(path: &Path) -> Result<HostDir, MaqetError> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_error(format!("cannot open the directory {}", path.display()), e))?;
        Ok(HostDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Opens the subdirectory `name`, creating it first when it does not exist. A link there
    /// is refused, never followed.
    pub fn subdir(&self, name: &OsStr) -> Result<HostDir, MaqetError> {
        let path = self.path.join(name);
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(io_error(format!("cannot create {}", path.display()), e)),
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Ok(HostDir { fd, path }),
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => Err(MaqetError::with_source(
                ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a directory (or is a symbolic link, which maqet does not follow); remove it or copy elsewhere",
                    path.display()
                ),
                std::io::Error::from(e),
            )),
            Err(e) => Err(io_error(format!("cannot open {}", path.display()), e)),
        }
    }

    /// Whether anything (a link included) is called `name` here.
    pub fn has(&self, name: &OsStr) -> bool {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
    }

    /// Free bytes for an unprivileged user on this directory's file system.
    pub fn available_bytes(&self) -> Option<u64> {
        let vfs = rustix::fs::fstatvfs(&self.fd).ok()?;
        vfs.f_bavail.checked_mul(vfs.f_frsize)
    }

    /// Creates the partial file that becomes `name`, with `mode` (the umask applies): an
    /// unnamed `O_TMPFILE` where the file system has them, else a named partial file, which
    /// `before_named` is called for first (to record where it will be).
    pub fn create_partial(
        &self,
        name: &OsStr,
        mode: u32,
        before_named: &dyn Fn(),
    ) -> Result<Partial<'_>, MaqetError> {
        if let Some(file) = self.create_unnamed(mode) {
            return Ok(Partial {
                dir: self,
                name: None,
                target: name.to_os_string(),
                file,
                done: false,
                _interrupt: None,
            });
        }
        before_named();
        let partial = partial_name(name, std::process::id());
        // Registered before it exists, so a signal at any moment after creation removes it.
        let interrupt = InterruptCleanup::register(&self.fd, &partial);
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, &partial, flags, Mode::from_raw_mode(mode & 0o777))
            .map_err(|e| {
            io_error(
                format!("cannot create {}", self.path.join(&partial).display()),
                e,
            )
        })?;
        Ok(Partial {
            dir: self,
            name: Some(partial),
            target: name.to_os_string(),
            file: File::from(fd),
            done: false,
            _interrupt: Some(interrupt),
        })
    }

    /// An unnamed file in this directory, or `None` when the file system (or the kernel) has
    /// no `O_TMPFILE`, `/proc` is missing to link it later, or the named fallback is forced
    /// (debug builds, [`NAMED_PARTIALS_ENV`]); the named path then reports real errors.
    fn create_unnamed(&self, mode: u32) -> Option<File> {
        if cfg!(debug_assertions) && std::env::var_os(NAMED_PARTIALS_ENV).is_some_and(|v| v == "1")
        {
            return None;
        }
        if !Path::new(PROC_SELF_FD).is_dir() {
            return None;
        }
        let flags = OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC;
        rustix::fs::openat(&self.fd, ".", flags, Mode::from_raw_mode(mode & 0o777))
            .ok()
            .map(File::from)
    }

    /// Removes stale partial files here: `.NAME.maqet-partial-PID` regular files owned by this
    /// user whose `cp` process is gone. Returns the names it removed (or, with `remove` false,
    /// would remove).
    pub fn sweep_stale_partials(&self, remove: bool) -> Vec<OsString> {
        let Ok(dir) = rustix::fs::Dir::read_from(&self.fd) else {
            return Vec::new();
        };
        let uid = crate::dirs::current_uid();
        let mut stale = Vec::new();
        for entry in dir.flatten() {
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            let Some(pid) = partial_pid(name.as_bytes()) else {
                continue;
            };
            if pid == std::process::id() || process_alive(pid) {
                continue;
            }
            let Ok(stat) = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile || stat.st_uid != uid
            {
                continue;
            }
            if !remove || rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()).is_ok() {
                stale.push(name.to_os_string());
            }
        }
        stale
    }
}

/// A file being written before it has its name; removed (or, unnamed, gone with its handle)
/// unless [`Partial::commit`] succeeds.
pub struct Partial<'a> {
    dir: &'a HostDir,
    /// The name it is written under; `None` for an unnamed `O_TMPFILE`.
    name: Option<OsString>,
    /// The name it gets.
    target: OsString,
    /// The open file.
    pub file: File,
    done: bool,
    _interrupt: Option<InterruptCleanup>,
}

impl Partial<'_> {
    /// The partial file's path (the name it gets, when it has none yet), for messages.
    pub fn path(&self) -> PathBuf {
        self.dir
            .path
            .join(self.name.as_ref().unwrap_or(&self.target))
    }

    /// Flushes the file and gives it the name `target`; an existing `target` is replaced only
    /// with `replace` (and never followed: a link there is replaced, not written through).
    pub fn commit(mut self, target: &OsStr, replace: bool) -> Result<(), MaqetError> {
        let shown = self.dir.path.join(target);
        self.file
            .sync_all()
            .map_err(|e| MaqetError::io(format!("cannot write {}", self.path().display()), e))?;
        if self.name.is_none() {
            match self.link_as(target) {
                Ok(()) => {
                    self.done = true;
                    return Ok(());
                }
                Err(Errno::EXIST) if !replace => return Err(already_exists(&shown)),
                Err(Errno::EXIST) => {
                    // Replacing: a name of its own first, then the rename over `target`.
                    let partial = partial_name(target, std::process::id());
                    self._interrupt = Some(InterruptCleanup::register(&self.dir.fd, &partial));
                    self.link_as(&partial).map_err(|e| {
                        io_error(format!("cannot move the copy to {}", shown.display()), e)
                    })?;
                    self.name = Some(partial);
                }
                Err(e) => {
                    return Err(io_error(
                        format!("cannot move the copy to {}", shown.display()),
                        e,
                    ));
                }
            }
        }
        let Some(name) = self.name.clone() else {
            return Err(MaqetError::invalid("the copy has no file to move"));
        };
        let fd = &self.dir.fd;
        let renamed = if replace {
            rustix::fs::renameat(fd, &name, fd, target)
        } else {
            rustix::fs::renameat_with(fd, &name, fd, target, RenameFlags::NOREPLACE)
        };
        match renamed {
            Ok(()) => {
                self.done = true;
                Ok(())
            }
            Err(Errno::EXIST) => Err(already_exists(&shown)),
            Err(e) => Err(io_error(
                format!("cannot move the copy to {}", shown.display()),
                e,
            )),
        }
    }

    /// Links the open (unnamed) file into the directory as `name`; fails with `EEXIST` when
    /// anything, a link included, is called that.
    fn link_as(&self, name: &OsStr) -> Result<(), Errno> {
        let own = format!("{PROC_SELF_FD}/{}", self.file.as_raw_fd());
        rustix::fs::linkat(
            rustix::fs::CWD,
            own.as_str(),
            &self.dir.fd,
            name,
            AtFlags::SYMLINK_FOLLOW,
        )
    }
}

fn already_exists(shown: &Path) -> MaqetError {
    MaqetError::DestinationExists {
        path: shown.display().to_string(),
        in_guest: false,
    }
}

impl Drop for Partial<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.name.as_ref().filter(|_| !self.done) {
            let _ = rustix::fs::unlinkat(&self.dir.fd, name, AtFlags::empty());
        }
    }
}

/// `.NAME.maqet-partial-PID`, with NAME cut so the whole fits in a file name.
pub fn partial_name(name: &OsStr, pid: u32) -> OsString {
    let bytes = name.as_bytes();
    let kept = &bytes[..bytes.len().min(PARTIAL_NAME_KEEP)];
    let mut out = Vec::with_capacity(kept.len() + 32);
    out.push(b'.');
    out.extend_from_slice(kept);
    out.extend_from_slice(PARTIAL_MARK);
    out.extend_from_slice(pid.to_string().as_bytes());
    OsString::from_vec(out)
}

/// The pid in a name of the exact form `.NAME.maqet-partial-PID`, else `None`.
pub fn partial_pid(name: &[u8]) -> Option<u32> {
    let rest = name.strip_prefix(b".")?;
    let at = rest
        .windows(PARTIAL_MARK.len())
        .rposition(|w| w == PARTIAL_MARK)?;
    let digits = &rest[at + PARTIAL_MARK.len()..];
    if at == 0 || digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits)
        .ok()?
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

/// Whether a process with this pid exists (one of another user counts as alive).
pub fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_round_trip_and_nothing_else_matches() {
        let name = partial_name(OsStr::new("data.bin"), 4242);
        assert_eq!(name, ".data.bin.maqet-partial-4242");
        assert_eq!(partial_pid(name.as_bytes()), Some(4242));
        let long = partial_name(OsStr::new(&"x".repeat(300)), 7);
        assert!(long.len() < 255);
        assert_eq!(partial_pid(long.as_bytes()), Some(7));
        for other in [
            &b"data.bin.maqet-partial-1"[..],
            b"..maqet-partial-1",
            b".a.maqet-partial-",
            b".a.maqet-partial-12x",
            b".a.maqet-partial-0",
            b".a.maqet-partial-99999999999",
        ] {
            assert_eq!(partial_pid(other), None, "{other:?}");
        }
    }

    #[test]
    fn stale_partials_of_dead_processes_only_are_swept() {
        let tmp = tempfile::tempdir().unwrap();
        let dead = partial_name(OsStr::new("a"), 999_999_999);
        let mine = partial_name(OsStr::new("b"), std::process::id());
        std::fs::write(tmp.path().join(&dead), b"x").unwrap();
        std::fs::write(tmp.path().join(&mine), b"x").unwrap();
        std::fs::write(tmp.path().join("a"), b"keep").unwrap();
        let link = partial_name(OsStr::new("c"), 999_999_998);
        std::os::unix::fs::symlink("a", tmp.path().join(&link)).unwrap();
        let dir = HostDir::open(tmp.path()).unwrap();
        assert_eq!(dir.sweep_stale_partials(false), vec![dead.clone()]);
        assert!(tmp.path().join(&dead).exists());
        assert_eq!(dir.sweep_stale_partials(true), vec![dead.clone()]);
        assert!(!tmp.path().join(&dead).exists());
        assert!(tmp.path().join(&mine).exists());
        assert!(tmp.path().join(&link).symlink_metadata().is_ok());
    }

    #[test]
    fn partials_are_removed_unless_committed_and_links_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let dest = tmp.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        std::os::unix::fs::symlink(&outside, dest.join("sub")).unwrap();
        let dir = HostDir::open(&dest).unwrap();
        let err = dir.subdir(OsStr::new("sub")).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        {
            let _partial = dir.create_partial(OsStr::new("f"), 0o640, &|| {}).unwrap();
        }
        assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1);
        let mut partial = dir.create_partial(OsStr::new("f"), 0o640, &|| {}).unwrap();
        std::io::Write::write_all(&mut partial.file, b"data").unwrap();
        partial.commit(OsStr::new("f"), false).unwrap();
        assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"data");
        let again = dir.create_partial(OsStr::new("f"), 0o600, &|| {}).unwrap();
        let err = again.commit(OsStr::new("f"), false).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 2);
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_copy_has_no_name_until_committed_and_replaces_a_link_without_following_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = HostDir::open(tmp.path()).unwrap();
        let mut partial = dir.create_partial(OsStr::new("f"), 0o640, &|| {}).unwrap();
        std::io::Write::write_all(&mut partial.file, b"first").unwrap();
        assert_eq!(
            names(tmp.path()),
            Vec::<String>::new(),
            "the file system of {} has no O_TMPFILE (or /proc is missing), so this test \
             cannot check the unnamed copy",
            tmp.path().display()
        );
        partial.commit(OsStr::new("f"), false).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"first");
        assert_eq!(names(tmp.path()), vec!["f"]);

        // Without `replace` an existing name is kept; with it, the copy takes the name.
        let again = dir.create_partial(OsStr::new("f"), 0o600, &|| {}).unwrap();
        let err = again.commit(OsStr::new("f"), false).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        assert_eq!(names(tmp.path()), vec!["f"]);
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::fs::remove_file(tmp.path().join("f")).unwrap();
        std::os::unix::fs::symlink(&victim, tmp.path().join("f")).unwrap();
        let mut newer = dir.create_partial(OsStr::new("f"), 0o600, &|| {}).unwrap();
        std::io::Write::write_all(&mut newer.file, b"second").unwrap();
        newer.commit(OsStr::new("f"), true).unwrap();
        let meta = tmp.path().join("f").symlink_metadata().unwrap();
        assert!(meta.is_file(), "the link was replaced by the copy");
        assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"second");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(names(tmp.path()), vec!["f", "victim"]);
    }
}
