//! Finding a running VM's runtime directory by its name without the state database.
//!
//! Runtime directories are named by VM id (`<runtime>/vms/<id>`). Each runner also leaves a
//! symbolic link `<runtime>/names/<name>` whose target is the id (a bare file name, never a
//! path), replaced atomically (a new link renamed over the old one), so a command that only
//! needs the runner's sockets (`maqet exec`) can go from a name to `agent.sock` with one
//! `readlink` instead of opening SQLite. `maqet rm` removes the link of a VM it removes.
//!
//! The link is only believed where no other user could have planted it: the runtime root and
//! `names/` must be real directories (not links) owned by this user and writable by no one
//! else, the name must be a plain file name, and the target a plain id. Anything else, or a
//! link whose VM does not answer, makes the caller fall back to the database. Stale links
//! (a VM that stopped) are harmless: its runtime directory and sockets are gone.

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};

/// The directory of the name links, under the runtime root.
const NAMES_DIR: &str = "names";
/// Longest VM name or id taken as a link name or target.
const MAX_WORD: usize = 255;

/// `<runtime>/names`.
pub fn names_dir(runtime_root: &Path) -> PathBuf {
    runtime_root.join(NAMES_DIR)
}

/// Whether `word` can be one path component maqet wrote itself: not empty, not `.`/`..`, no
/// `/` or NUL, no leading dot (temporary links start with one), at most 255 bytes.
fn plain_word(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= MAX_WORD
        && !word.starts_with('.')
        && !word.bytes().any(|b| b == b'/' || b == 0)
}

/// Whether `dir` is a directory (not a link) owned by this user and writable by no one else.
fn private_dir(dir: &Path) -> bool {
    let uid = rustix::process::geteuid().as_raw();
    std::fs::symlink_metadata(dir)
        .is_ok_and(|m| m.file_type().is_dir() && m.uid() == uid && m.mode() & 0o022 == 0)
}

/// Points `<runtime>/names/<name>` at `id` (creating `names/`, mode 0700), atomically.
///
/// The runtime root is `runtime_dir`'s grandparent (`<runtime>/vms/<id>`). Errors are for the
/// caller to log: without the link, commands look the VM up in the database as before.
pub fn record(runtime_dir: &Path, name: &str, id: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
    if !plain_word(name) || !plain_word(id) {
        return Err(invalid("the VM name or id is not a plain file name"));
    }
    let root = runtime_dir
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| invalid("the runtime directory has no runtime root above it"))?;
    let dir = names_dir(root);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    if !private_dir(&dir) {
        return Err(invalid("the names directory is not private to this user"));
    }
    let temporary = dir.join(format!(".{id}.{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    symlink(id, &temporary)?;
    std::fs::rename(&temporary, dir.join(name)).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// The id `<runtime>/names/<name>` points at, when the link is maqet's own (see the module
/// docs); `None` sends the caller to the database.
pub fn resolve(runtime_root: &Path, name: &str) -> Option<String> {
    if !plain_word(name) || !private_dir(runtime_root) {
        return None;
    }
    let dir = names_dir(runtime_root);
    if !private_dir(&dir) {
        return None;
    }
    let target = std::fs::read_link(dir.join(name)).ok()?;
    let id = target.to_str()?;
    (plain_word(id) && target.file_name() == Some(OsStr::new(id))).then(|| id.to_owned())
}

/// Removes `<runtime>/names/<name>` if it still points at `id` (`maqet rm`).
pub fn forget(runtime_root: &Path, name: &str, id: &str) {
    if !plain_word(name) {
        return;
    }
    let link = names_dir(runtime_root).join(name);
    if std::fs::read_link(&link).is_ok_and(|target| target.as_os_str() == OsStr::new(id)) {
        let _ = std::fs::remove_file(link);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        dir
    }

    #[test]
    fn a_recorded_name_resolves_to_its_id_and_is_replaced_and_forgotten() {
        let root = root();
        let runtime_dir = root.path().join("vms").join("id1");
        record(&runtime_dir, "web", "id1").expect("record");
        assert_eq!(resolve(root.path(), "web").as_deref(), Some("id1"));
        record(&root.path().join("vms").join("id2"), "web", "id2").expect("replace");
        assert_eq!(resolve(root.path(), "web").as_deref(), Some("id2"));
        forget(root.path(), "web", "id1");
        assert_eq!(resolve(root.path(), "web").as_deref(), Some("id2"));
        forget(root.path(), "web", "id2");
        assert_eq!(resolve(root.path(), "web"), None);
    }

    #[test]
    fn links_in_a_directory_others_may_write_or_with_odd_names_are_not_believed() {
        let root = root();
        record(&root.path().join("vms").join("id1"), "web", "id1").expect("record");
        for name in ["", ".", "..", "../web", "a/b", ".hidden"] {
            assert_eq!(resolve(root.path(), name), None, "{name:?}");
        }
        let names = names_dir(root.path());
        std::fs::set_permissions(&names, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert_eq!(resolve(root.path(), "web"), None);
        std::fs::set_permissions(&names, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        symlink("../elsewhere", names.join("odd")).expect("symlink");
        assert_eq!(resolve(root.path(), "odd"), None);
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o757))
            .expect("chmod");
        assert_eq!(resolve(root.path(), "web"), None);
    }
}
