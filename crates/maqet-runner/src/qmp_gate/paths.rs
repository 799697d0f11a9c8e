//! Where a raw QMP client may make QEMU read or write: absolute paths, after resolving
//! symlinks, under one of the user's allowed directories and never in a system directory.

use std::path::{Component, Path, PathBuf};

use super::list::PathUse;
use maqet_storage::resolve_existing_prefix;

/// System directories no raw QMP command may touch, whatever the allowed directories are.
pub const SYSTEM_DIRS: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc",
    "/run", "/sbin", "/srv", "/sys", "/usr", "/var",
];

/// Directories under [`SYSTEM_DIRS`] that are still fine (shared temporary space).
const SYSTEM_EXCEPTIONS: &[&str] = &["/var/tmp"];

/// The directories a raw QMP client may name.
#[derive(Debug, Clone, Default)]
pub struct AllowedDirs {
    dirs: Vec<PathBuf>,
}

impl AllowedDirs {
    /// The user's directories from the environment (`$HOME`, `$TMPDIR`, `$XDG_RUNTIME_DIR`),
    /// `/tmp` and `/var/tmp`, plus `extra` (the VM's own data and runtime directories).
    pub fn for_user(extra: &[PathBuf]) -> Self {
        let mut dirs: Vec<PathBuf> = ["HOME", "TMPDIR", "XDG_RUNTIME_DIR"]
            .iter()
            .filter_map(std::env::var_os)
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute() && dir != Path::new("/"))
            .collect();
        dirs.push("/tmp".into());
        dirs.push("/var/tmp".into());
        dirs.extend(extra.iter().cloned());
        Self::new(dirs)
    }

    /// Exactly these directories (resolved through symlinks where they exist).
    pub fn new(dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        let mut dirs: Vec<PathBuf> = dirs
            .into_iter()
            .map(|d| resolve_existing_prefix(&d))
            .collect();
        dirs.sort();
        dirs.dedup();
        Self { dirs }
    }

    /// The directories, resolved.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Checks one path argument; `Err` says why it is refused.
    pub fn check(&self, path: &str, usage: PathUse) -> Result<(), String> {
        let given = Path::new(path);
        if let Some(protocol) = protocol_prefix(path) {
            return Err(format!(
                "'{path}' is a QEMU '{protocol}:' name rather than a host file; give a plain absolute path"
            ));
        }
        if !given.is_absolute() {
            return Err(format!(
                "'{path}' is relative, and QEMU would resolve it against its own working directory; give an absolute path"
            ));
        }
        if given.components().any(|c| c == Component::ParentDir) {
            return Err(format!("'{path}' contains '..'; give the path without it"));
        }
        let resolved = resolve_existing_prefix(given);
        let shown = if resolved == given {
            format!("'{path}'")
        } else {
            format!("'{path}' (which resolves to '{}')", resolved.display())
        };
        if let Some(system) = system_dir(&resolved)
            && !self.carves_out(system, &resolved)
        {
            let verb = match usage {
                PathUse::Write => "write into",
                PathUse::Read => "read from",
            };
            return Err(format!(
                "{shown} is in the system directory {system}, which QEMU must never {verb} on a client's behalf"
            ));
        }
        if !self.dirs.iter().any(|dir| resolved.starts_with(dir)) {
            let list: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
            return Err(format!(
                "{shown} is outside the directories a QMP client may name ({})",
                list.join(", ")
            ));
        }
        Ok(())
    }
}

impl AllowedDirs {
    /// Whether an allowed directory strictly inside `system` (such as `/run/user/1000` in
    /// `/run`) holds `path`.
    fn carves_out(&self, system: &str, path: &Path) -> bool {
        self.dirs
            .iter()
            .any(|dir| dir.starts_with(system) && dir != Path::new(system) && path.starts_with(dir))
    }
}

/// The protocol QEMU would read from `name` (`json`, `nbd`, `file`, ...): as QEMU decides, a
/// `:` before any `/` makes the part before it a protocol.
pub fn protocol_prefix(name: &str) -> Option<&str> {
    let end = name.find([':', '/'])?;
    (name.as_bytes().get(end) == Some(&b':')).then(|| name.get(..end).unwrap_or_default())
}

/// The system directory `path` lies in, if any.
fn system_dir(path: &Path) -> Option<&'static str> {
    if path == Path::new("/") {
        return Some("/");
    }
    if SYSTEM_EXCEPTIONS.iter().any(|ok| path.starts_with(ok)) {
        return None;
    }
    SYSTEM_DIRS
        .iter()
        .copied()
        .find(|dir| path.starts_with(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_an_allowed_dir_pass_and_others_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = AllowedDirs::new([dir.path().to_path_buf()]);
        let inside = dir.path().join("new/shot.ppm");
        assert!(
            allowed
                .check(inside.to_str().unwrap(), PathUse::Write)
                .is_ok()
        );
        let err = allowed.check("/home/else/x", PathUse::Write).unwrap_err();
        assert!(err.contains("outside the directories"), "{err}");
        let err = allowed.check("shot.ppm", PathUse::Write).unwrap_err();
        assert!(err.contains("absolute"), "{err}");
        let dotdot = format!("{}/../x", dir.path().display());
        assert!(allowed.check(&dotdot, PathUse::Write).is_err());
    }

    #[test]
    fn protocol_and_json_names_are_refused_as_such() {
        let allowed = AllowedDirs::new([PathBuf::from("/tmp")]);
        for (name, protocol) in [
            ("json:{\"driver\": \"nbd\"}", "json"),
            ("nbd://10.0.0.1/x", "nbd"),
            ("file:/tmp/x", "file"),
            ("ssh:host/x", "ssh"),
        ] {
            assert_eq!(protocol_prefix(name), Some(protocol), "{name}");
            let err = allowed.check(name, PathUse::Read).unwrap_err();
            assert!(err.contains(&format!("'{protocol}:'")), "{err}");
        }
        assert_eq!(protocol_prefix("/tmp/a:b"), None);
        assert_eq!(protocol_prefix("base.qcow2"), None);
    }

    #[test]
    fn system_dirs_are_refused_even_when_allowed() {
        let allowed = AllowedDirs::new([PathBuf::from("/")]);
        let err = allowed.check("/etc/passwd", PathUse::Read).unwrap_err();
        assert!(err.contains("system directory /etc"), "{err}");
        assert!(allowed.check("/var/tmp/ok", PathUse::Write).is_ok());
        assert!(allowed.check("/var/lib/x", PathUse::Write).is_err());
        let runtime = AllowedDirs::new([PathBuf::from("/run/user/4242")]);
        assert!(runtime.check("/run/user/4242/vm/x", PathUse::Write).is_ok());
        assert!(runtime.check("/run/other", PathUse::Write).is_err());
    }

    #[test]
    fn a_symlink_to_a_system_dir_is_followed_and_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("etc-link");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let allowed = AllowedDirs::new([dir.path().to_path_buf()]);
        let target = link.join("evil.conf");
        let err = allowed
            .check(target.to_str().unwrap(), PathUse::Write)
            .unwrap_err();
        assert!(err.contains("resolves to '/etc/evil.conf'"), "{err}");
    }
}
