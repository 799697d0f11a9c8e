//! A throw-away maqet home for one test.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::binaries::{maqet_binary, maqet_runner_binary};
use crate::process::kill_processes_mentioning;

/// A temporary directory holding everything one test's maqet touches.
///
/// Layout: `data/`, `config/`, `runtime/` (passed to maqet as its data, config and runtime
/// dirs), `configs/` (VM config files written by [`MaqetHome::write_config`]) and `xdg/`
/// (`HOME` and the `XDG_*` dirs of the child, so nothing reaches the real home). Dropping it
/// kills any QEMU or `maqet-runner` whose command line mentions the directory, then removes it.
#[derive(Debug)]
pub struct MaqetHome {
    dir: TempDir,
}

impl Default for MaqetHome {
    fn default() -> Self {
        Self::new()
    }
}

impl MaqetHome {
    /// Creates the directory tree under the system temp dir (short paths keep sockets valid).
    ///
    /// # Panics
    /// When the temp dir cannot be created.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("maqet-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary maqet home: {e}"));
        let home = Self { dir };
        for sub in [
            "data",
            "config",
            "runtime",
            "configs",
            "xdg/config",
            "xdg/data",
            "xdg/cache",
            "xdg/state",
            "xdg/runtime",
        ] {
            let path = home.path().join(sub);
            std::fs::create_dir_all(&path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        }
        home
    }

    /// The temporary directory's root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Passed as `--maqet-data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    /// Passed as `--maqet-config-dir`.
    pub fn config_dir(&self) -> PathBuf {
        self.path().join("config")
    }

    /// Passed as `--maqet-runtime-dir`.
    pub fn runtime_dir(&self) -> PathBuf {
        self.path().join("runtime")
    }

    /// Where [`MaqetHome::write_config`] puts VM config files.
    pub fn configs_dir(&self) -> PathBuf {
        self.path().join("configs")
    }

    /// A command running the `maqet` binary against this home; add the subcommand and its args.
    ///
    /// The child gets `--maqet-data-dir/--maqet-config-dir/--maqet-runtime-dir`, `HOME` and
    /// `XDG_*` inside this home, no inherited `MAQET_*` variables, `MAQET_RUNNER` when the
    /// runner binary was found, and `MAQET_SHIPPED_PLUGINS=0` (no plugins from beside the
    /// binary).
    ///
    /// # Panics
    /// When the `maqet` binary is missing (build it with `cargo build -p maqet-cli`, or set
    /// `MAQET_BIN`).
    pub fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.std_cmd())
    }

    /// The same command as [`MaqetHome::cmd`], as a `std::process::Command`: for a child the
    /// test spawns and signals (`cp` interrupted, killed).
    ///
    /// # Panics
    /// As [`MaqetHome::cmd`].
    pub fn std_cmd(&self) -> std::process::Command {
        let binary = maqet_binary();
        assert!(
            binary.is_file(),
            "maqet binary not found at {}: run `cargo build -p maqet-cli -p maqet-runner` \
             (same target dir and profile as the tests) or set MAQET_BIN",
            binary.display()
        );
        let mut command = std::process::Command::new(&binary);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("MAQET_") {
                command.env_remove(&key);
            }
        }
        let runner = maqet_runner_binary();
        if runner.is_file() {
            command.env("MAQET_RUNNER", runner);
        }
        // The plugins cargo built next to the binary would change every help text depending
        // on what else was built; a test that wants them removes this variable.
        command.env("MAQET_SHIPPED_PLUGINS", "0");
        let xdg = self.path().join("xdg");
        command
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", xdg.join("config"))
            .env("XDG_DATA_HOME", xdg.join("data"))
            .env("XDG_CACHE_HOME", xdg.join("cache"))
            .env("XDG_STATE_HOME", xdg.join("state"))
            .env("XDG_RUNTIME_DIR", xdg.join("runtime"))
            .arg("--maqet-data-dir")
            .arg(self.data_dir())
            .arg("--maqet-config-dir")
            .arg(self.config_dir())
            .arg("--maqet-runtime-dir")
            .arg(self.runtime_dir());
        command
    }

    /// The image cache a command in this home uses (`$XDG_CACHE_HOME/maqet/images`).
    pub fn image_cache_dir(&self) -> PathBuf {
        self.path().join("xdg/cache/maqet/images")
    }

    /// Writes `yaml` to `configs/<name>` (`.yaml` added when `name` has no extension).
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write_config(&self, name: &str, yaml: &str) -> PathBuf {
        let file_name = if Path::new(name).extension().is_some() {
            name.to_owned()
        } else {
            format!("{name}.yaml")
        };
        let path = self.configs_dir().join(file_name);
        std::fs::write(&path, yaml)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

impl Drop for MaqetHome {
    fn drop(&mut self) {
        kill_processes_mentioning(self.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn home_has_its_directories_and_is_removed_on_drop() {
        let home = MaqetHome::new();
        let root = home.path().to_path_buf();
        for dir in [
            home.data_dir(),
            home.config_dir(),
            home.runtime_dir(),
            home.configs_dir(),
        ] {
            assert!(dir.is_dir(), "{}", dir.display());
        }
        drop(home);
        assert!(!root.exists());
    }

    #[test]
    fn dropping_the_home_kills_a_qemu_left_running_in_it() {
        let home = MaqetHome::new();
        let pidfile = home.runtime_dir().join("qemu.pid");
        let mut qemu = std::process::Command::new("qemu-system-x86_64")
            .args(["-machine", "none", "-nodefaults", "-display", "none", "-S"])
            .arg("-pidfile")
            .arg(&pidfile)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 must be installed");
        let started = crate::wait_for_file_text(&pidfile, r"\d+", Duration::from_secs(30));
        assert!(started.is_ok(), "{started:?}");
        assert!(qemu.try_wait().unwrap().is_none());

        drop(home);
        let status = qemu.wait().unwrap();
        assert!(!status.success(), "QEMU must have been killed: {status:?}");
    }

    #[test]
    fn configs_are_written_with_a_yaml_extension() {
        let home = MaqetHome::new();
        let path = home.write_config("vm1", "name: vm1\n");
        assert_eq!(path, home.configs_dir().join("vm1.yaml"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "name: vm1\n");
        let path = home.write_config("other.yml", "name: other\n");
        assert_eq!(path, home.configs_dir().join("other.yml"));
    }
}
