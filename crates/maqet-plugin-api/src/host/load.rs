//! Finding `.so` files and loading them through abi_stable's version and layout checks.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use abi_stable::library::{LibraryError, RootModule, lib_header_from_path};

use super::{LoadedPlugin, PluginFile, RejectedPlugin};
use crate::ffi::PluginModuleRef;
use maqet_command::CommandSpec;

/// Decides whether a library file may be loaded at all; `Err` holds the reason, in words for
/// the user. maqet passes its ownership and mode check (`maqet_core::trust`).
pub type Vetter<'a> = &'a dyn Fn(&Path) -> Result<(), String>;

/// Loads every `*.so` in `dirs`, in order (files sorted by name within a directory), that
/// `vet` accepts; no code of a refused file runs (it is never opened by the loader).
///
/// Directories that do not exist are skipped. A file reached twice (same directory listed
/// twice, symlinks) is loaded once. Nothing here panics on a bad file: it becomes
/// [`PluginFile::Rejected`] and the others keep loading.
pub fn discover(dirs: &[PathBuf], vet: Vetter<'_>) -> Vec<PluginFile> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                found.push(PluginFile::Rejected(RejectedPlugin {
                    path: dir.clone(),
                    reason: format!("the plugin directory cannot be read ({e})"),
                }));
                continue;
            }
        };
        let mut libraries: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "so") && path.is_file())
            .collect();
        libraries.sort();
        for path in libraries {
            let identity = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if seen.insert(identity) {
                found.push(match vet(&path) {
                    Ok(()) => load(&path),
                    Err(reason) => PluginFile::Rejected(RejectedPlugin { path, reason }),
                });
            }
        }
    }
    found
}

/// Loads one library file.
pub(crate) fn load(path: &Path) -> PluginFile {
    match load_module(path) {
        Ok(plugin) => PluginFile::Loaded(plugin),
        Err(reason) => PluginFile::Rejected(RejectedPlugin {
            path: path.to_owned(),
            reason,
        }),
    }
}

fn load_module(path: &Path) -> Result<LoadedPlugin, String> {
    // `lib_header_from_path` keeps no per-type cache (unlike `RootModule::load_from_file`,
    // which returns the first library ever loaded for the type), so every file is its own
    // plugin; loading the same file again yields the same, already-initialised module.
    let header = lib_header_from_path(path).map_err(|e| reason_for(&e))?;
    let consts = header.root_mod_consts();
    if consts.name().as_str() != PluginModuleRef::NAME {
        return Err(format!(
            "it is an abi_stable library for `{}`, not a maqet plugin",
            consts.name()
        ));
    }
    let module = header
        .init_root_module::<PluginModuleRef>()
        .map_err(|e| reason_for(&e))?;
    let built_for = module.interface_version();
    if built_for != crate::INTERFACE_VERSION {
        return Err(format!(
            "it reports plugin interface version {built_for}, but this maqet speaks version {}",
            crate::INTERFACE_VERSION
        ));
    }
    let commands = (module.commands())()
        .iter()
        .map(CommandSpec::from)
        .collect();
    Ok(LoadedPlugin {
        path: path.to_owned(),
        module,
        name: (module.name())().into_string(),
        version: (module.version())().into_string(),
        commands,
    })
}

/// Words for the user about why abi_stable refused a library.
fn reason_for(error: &LibraryError) -> String {
    let this = crate::INTERFACE_VERSION;
    let api = env!("CARGO_PKG_VERSION");
    match error {
        LibraryError::OpenError { err, .. } => {
            format!("it is not a loadable shared library ({err})")
        }
        LibraryError::GetSymbolError { .. } => {
            "it is not a maqet plugin (it exports no plugin root module)".to_owned()
        }
        LibraryError::InvalidAbiHeader(_) => format!(
            "it was built with an incompatible abi_stable; rebuild it against maqet-plugin-api {api}"
        ),
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => format!(
            "it was built for plugin interface version {}, but this maqet speaks version {this}; \
             rebuild it against maqet-plugin-api {api}",
            actual_version.major
        ),
        LibraryError::ParseVersionError(_) => {
            "its plugin interface version cannot be read".to_owned()
        }
        LibraryError::AbiInstability(_) => format!(
            "its interface types differ from this maqet's (same interface version {this}, \
             different layout); rebuild it against maqet-plugin-api {api}"
        ),
        LibraryError::InvalidCAbi { .. } => {
            "it was compiled with a different C calling convention".to_owned()
        }
        LibraryError::RootModule { err, .. } => {
            format!("its initialisation failed ({})", err.to_string().trim())
        }
        LibraryError::Many(errors) => errors.iter().map(reason_for).collect::<Vec<_>>().join("; "),
    }
}
