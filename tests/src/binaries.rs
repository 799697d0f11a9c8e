//! Locating the `maqet` and `maqet-runner` executables under test.

use std::env;
use std::path::{Path, PathBuf};

/// Path of the `maqet` binary under test: `$MAQET_BIN`, else the build's `target/<profile>/maqet`.
pub fn maqet_binary() -> PathBuf {
    find_binary("MAQET_BIN", "maqet")
}

/// Path of the `maqet-runner` binary: `$MAQET_RUNNER`, else the build's `target/<profile>/maqet-runner`.
pub fn maqet_runner_binary() -> PathBuf {
    find_binary("MAQET_RUNNER", "maqet-runner")
}

/// The env override if set, else the first candidate directory holding `name`, else the last
/// candidate (so the caller's error names a sensible path).
fn find_binary(env_var: &str, name: &str) -> PathBuf {
    if let Some(path) = env::var_os(env_var).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let candidates: Vec<PathBuf> = candidate_dirs().into_iter().map(|d| d.join(name)).collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .or(candidates.last())
        .cloned()
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Directories cargo may have put workspace binaries in, best guess first.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    // A test executable lives in <target>/<profile>/deps; binaries in <target>/<profile>.
    if let Ok(exe) = env::current_exe()
        && let Some(dir) = exe.parent()
    {
        if dir.file_name().is_some_and(|n| n == "deps")
            && let Some(profile_dir) = dir.parent()
        {
            dirs.push(profile_dir.to_path_buf());
        }
        dirs.push(dir.to_path_buf());
    }
    if let Some(target) = env::var_os("CARGO_TARGET_DIR").filter(|p| !p.is_empty()) {
        dirs.push(Path::new(&target).join("debug"));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"));
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_looked_for_next_to_the_test_executable_first() {
        let dirs = candidate_dirs();
        let exe = env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        assert_eq!(dirs[0], profile_dir);
        assert!(dirs.last().unwrap().ends_with("../target/debug"));
    }
}
