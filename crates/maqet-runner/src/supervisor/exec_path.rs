//! Finding the QEMU binary on `PATH` once, in the runner, before the fork.
//!
//! The forked child would otherwise search `PATH` itself with `execvp`, one failed `execve`
//! per directory before the one holding QEMU (a dozen on a typical developer `PATH`). The
//! search here takes the same directories in the same order and picks the first regular
//! file that may be executed, as `execvp` does; QEMU is then exec'd by that path with its
//! `argv[0]` unchanged (what `/proc/PID/cmdline` shows stays the name the spec gave).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The default search list of glibc's `execvp` when `PATH` is unset.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// The file `execvp(program)` would run, when `program` is a bare name found on `path_var`
/// (`$PATH`); `None` for a name with a `/` (exec'd as it is) or one found nowhere (exec'd as
/// it is too, so the error stays `execvp`'s own).
pub fn resolve(program: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if program.is_empty() || program.contains('/') {
        return None;
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    std::env::split_paths(path_var)
        .map(|dir| {
            // An empty entry means the current directory, for execvp as for the shell.
            if dir.as_os_str().is_empty() {
                Path::new(".").join(program)
            } else {
                dir.join(program)
            }
        })
        .find(|candidate| runnable(candidate))
}

fn runnable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(dir: &Path, name: &str, mode: u32) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn the_first_executable_file_on_path_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            tmp.path().join("a"),
            tmp.path().join("b"),
            tmp.path().join("c"),
        );
        std::fs::create_dir_all(a.join("qemu")).unwrap(); // a directory of that name: skipped
        let wanted = file(&b, "qemu", 0o755);
        file(&c, "qemu", 0o755);
        let path_var = std::env::join_paths([&a, &b, &c]).unwrap();
        assert_eq!(resolve("qemu", Some(&path_var)), Some(wanted));
    }

    #[test]
    fn names_with_a_slash_and_missing_names_are_left_to_exec() {
        let tmp = tempfile::tempdir().unwrap();
        let path_var = std::env::join_paths([tmp.path()]).unwrap();
        assert_eq!(resolve("./qemu", Some(&path_var)), None);
        assert_eq!(resolve("/usr/bin/qemu", Some(&path_var)), None);
        assert_eq!(resolve("no-such-qemu", Some(&path_var)), None);
        assert_eq!(resolve("", Some(&path_var)), None);
    }

    #[test]
    fn a_file_without_exec_permission_is_skipped_when_not_root() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        file(&a, "qemu", 0o644);
        let wanted = file(&b, "qemu", 0o755);
        let path_var = std::env::join_paths([&a, &b]).unwrap();
        // access(X_OK) needs an exec bit even for root, so `a/qemu` is never chosen.
        assert_eq!(resolve("qemu", Some(&path_var)), Some(wanted));
    }
}
