//! Finding the `maqet-runner` executable.

use std::path::{Path, PathBuf};

use crate::error::RunnerError;

/// The runner executable's file name.
pub const RUNNER_NAME: &str = "maqet-runner";

/// The environment variable that names the runner executable.
pub const RUNNER_ENV: &str = "MAQET_RUNNER";

/// Finds the runner: `explicit` (from the builder), else `$MAQET_RUNNER`, else next to the
/// current executable, else on `PATH`.
///
/// An explicit path or `$MAQET_RUNNER` that is not an executable file is an error rather than a
/// reason to look further, so a typo is not silently replaced by another runner.
pub fn find_runner_executable(explicit: Option<&Path>) -> Result<PathBuf, RunnerError> {
    let env = std::env::var_os(RUNNER_ENV).filter(|v| !v.is_empty());
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let path = std::env::var_os("PATH");
    find_in(
        explicit,
        env.as_deref().map(Path::new),
        exe_dir.as_deref(),
        path.as_deref(),
    )
}

fn find_in(
    explicit: Option<&Path>,
    env: Option<&Path>,
    exe_dir: Option<&Path>,
    path_var: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, RunnerError> {
    if let Some(chosen) = explicit.or(env) {
        return if is_executable(chosen) {
            Ok(chosen.to_path_buf())
        } else {
            Err(RunnerError::RunnerMissing {
                tried: vec![chosen.to_path_buf()],
            })
        };
    }
    let mut tried = Vec::new();
    let beside = exe_dir.map(|dir| dir.join(RUNNER_NAME));
    let on_path = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(RUNNER_NAME));
    for candidate in beside.into_iter().chain(on_path) {
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        tried.push(candidate);
    }
    Err(RunnerError::RunnerMissing { tried })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn make_exe(dir: &Path) -> PathBuf {
        let path = dir.join(RUNNER_NAME);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn explicit_beats_env_beats_beside_beats_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = ["a", "b", "c", "d"]
            .iter()
            .map(|d| tmp.path().join(d))
            .collect();
        let exes: Vec<PathBuf> = dirs
            .iter()
            .map(|d| {
                std::fs::create_dir(d).unwrap();
                make_exe(d)
            })
            .collect();
        let path_var = std::env::join_paths([&dirs[3]]).unwrap();
        let find = |explicit: Option<&Path>, env: Option<&Path>, beside: Option<&Path>| {
            find_in(explicit, env, beside, Some(&path_var)).unwrap()
        };
        assert_eq!(
            find(Some(&exes[0]), Some(&exes[1]), Some(&dirs[2])),
            exes[0]
        );
        assert_eq!(find(None, Some(&exes[1]), Some(&dirs[2])), exes[1]);
        assert_eq!(find(None, None, Some(&dirs[2])), exes[2]);
        assert_eq!(find(None, None, Some(tmp.path())), exes[3]);
    }

    #[test]
    fn missing_runner_error_names_every_place_tried() {
        let tmp = tempfile::tempdir().unwrap();
        let path_var =
            std::env::join_paths([tmp.path().join("bin1"), tmp.path().join("bin2")]).unwrap();
        let err = find_in(None, None, Some(tmp.path()), Some(&path_var)).unwrap_err();
        let msg = err.to_string();
        for dir in ["bin1", "bin2"] {
            assert!(msg.contains(&format!("{dir}/maqet-runner")), "{msg}");
        }
        assert!(msg.contains("MAQET_RUNNER"), "{msg}");
    }

    #[test]
    fn a_wrong_explicit_path_is_an_error_not_a_fallback() {
        let tmp = tempfile::tempdir().unwrap();
        make_exe(tmp.path());
        let missing = tmp.path().join("nope");
        let err = find_in(Some(&missing), None, Some(tmp.path()), None).unwrap_err();
        assert!(err.to_string().contains("nope"));
    }
}
