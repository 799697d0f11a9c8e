//! The plugins shipped with maqet, found where the `maqet` binary is, so a fresh build or
//! install has their commands without copying anything.
//!
//! Looked for, after the user's own plugin directories, in (relative to the directory of the
//! running executable):
//!
//! - the directory itself: a cargo build puts the plugin libraries next to the binary
//!   (`target/release/libmaqet_libvirt.so` beside `target/release/maqet`);
//! - `../lib/maqet/plugins`: an install under a prefix (`/usr/local/bin/maqet`,
//!   `/usr/local/lib/maqet/plugins/`);
//! - `../plugins`: the Python package (`maqet/bin/maqet`, `maqet/plugins/`).
//!
//! Only the library names in [`SHIPPED_PLUGINS`] are taken from there (a build directory holds
//! other libraries: test fixtures, the Python module, proc-macros), each is vetted like any
//! plugin file, and a plugin of the same name the user installed wins.

use std::path::{Path, PathBuf};

use super::{PluginFile, Vetter};

/// File names of the plugin libraries the maqet workspace ships.
pub const SHIPPED_PLUGINS: &[&str] = &[
    "libmaqet_cloud_init.so",
    "libmaqet_export.so",
    "libmaqet_libvirt.so",
];

/// Where shipped plugins may be, for the executable at `exe` (see the module page).
pub fn shipped_dirs(exe: &Path) -> Vec<PathBuf> {
    let Some(dir) = exe.parent() else {
        return Vec::new();
    };
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(up) = dir.parent() {
        dirs.extend([up.join("lib/maqet/plugins"), up.join("plugins")]);
    }
    dirs
}

/// Loads each shipped plugin from the first of `dirs` that has it, unless `skip` says a
/// plugin by that file name is already loaded. Missing files are no error; a file the
/// vetter refuses is reported, never opened.
pub fn discover_shipped(
    dirs: &[PathBuf],
    skip: &dyn Fn(&str) -> bool,
    vet: Vetter<'_>,
) -> Vec<PluginFile> {
    let mut found = Vec::new();
    for name in SHIPPED_PLUGINS {
        if skip(name) {
            continue;
        }
        let Some(path) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) else {
            continue;
        };
        found.push(match vet(&path) {
            Ok(()) => super::load::load(&path),
            Err(reason) => PluginFile::Rejected(super::RejectedPlugin { path, reason }),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_dir_then_a_prefix_lib_dir_then_the_python_package_dir() {
        let dirs = shipped_dirs(Path::new("/opt/maqet/bin/maqet"));
        assert_eq!(
            dirs,
            [
                PathBuf::from("/opt/maqet/bin"),
                PathBuf::from("/opt/maqet/lib/maqet/plugins"),
                PathBuf::from("/opt/maqet/plugins"),
            ]
        );
    }

    #[test]
    fn only_shipped_names_are_taken_and_a_refused_file_is_never_loaded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libmaqet_export.so"), b"not really").unwrap();
        std::fs::write(dir.path().join("libother.so"), b"not ours").unwrap();
        let refuse = |p: &Path| Err(format!("{} is not trusted", p.display()));
        let found = discover_shipped(&[dir.path().to_path_buf()], &|_| false, &refuse);
        assert_eq!(found.len(), 1);
        let PluginFile::Rejected(rejected) = &found[0] else {
            panic!("a refused file must not load");
        };
        assert!(rejected.path.ends_with("libmaqet_export.so"));
        assert!(rejected.reason.contains("not trusted"));
        let skipped = discover_shipped(&[dir.path().to_path_buf()], &|_| true, &refuse);
        assert!(skipped.is_empty());
    }
}
