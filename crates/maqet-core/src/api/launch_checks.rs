//! Checks made before a VM's runner and QEMU start: nothing is spawned that another user
//! could have swapped, and no socket is bound at a path the kernel would cut short.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use maqet_runner::layout::{MAX_SOCKET_PATH, VmPaths};

use crate::{ErrorKind, Maqet, MaqetError};

impl Maqet {
    /// Refuses to start when the QEMU binary (`argv[0]`, when it is a path) could be changed
    /// by another user, or when a socket path in the runtime dir is too long.
    pub(crate) fn check_launch(
        &self,
        qemu_argv: &[String],
        paths: &VmPaths,
    ) -> Result<(), MaqetError> {
        if let Some(binary) = qemu_argv.first().filter(|b| b.contains('/')) {
            check_binary(Path::new(binary))?;
        }
        check_socket_paths(paths)
    }
}

fn check_binary(binary: &Path) -> Result<(), MaqetError> {
    if binary.symlink_metadata().is_err() {
        // Missing: QEMU's launch reports that, with the path.
        return Ok(());
    }
    crate::trust::check_trusted(binary).map_err(|reason| {
        MaqetError::new(
            ErrorKind::PermissionDenied,
            format!(
                "refusing to run the QEMU binary {}: {reason}; another user could replace the program maqet runs",
                binary.display()
            ),
        )
    })
}

/// Every socket path must fit in `sun_path` ([`MAX_SOCKET_PATH`] bytes).
pub(crate) fn check_socket_paths(paths: &VmPaths) -> Result<(), MaqetError> {
    for socket in paths.socket_paths() {
        let len = socket.as_os_str().as_bytes().len();
        if len > MAX_SOCKET_PATH {
            return Err(MaqetError::new(
                ErrorKind::InvalidInput,
                format!(
                    "the VM's socket path {} is {len} bytes, over the UNIX socket limit of {MAX_SOCKET_PATH} bytes; \
                     use a shorter runtime directory (--maqet-runtime-dir or `directories.runtime_dir` in maqet.conf) \
                     than {}",
                    socket.display(),
                    paths
                        .runtime_dir
                        .parent()
                        .and_then(Path::parent)
                        .unwrap_or(&paths.runtime_dir)
                        .display()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths_over_the_limit_are_refused_with_the_path_and_limit() {
        let short = VmPaths::new("/run/maqet/vms/0123", "/data");
        assert!(check_socket_paths(&short).is_ok());
        let long_dir = format!("/{}/vms/0123", "d".repeat(90));
        let err = check_socket_paths(&VmPaths::new(&long_dir, "/data")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("107 bytes"), "{text}");
        assert!(
            text.contains(&format!("{long_dir}/qemu-qmp.sock")),
            "{text}"
        );
        assert_eq!(err.exit_code(), 3);
    }
}
