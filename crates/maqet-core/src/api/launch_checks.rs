//! Checks made before a VM's runner and QEMU start (nothing is spawned that another user
//! could have swapped, no socket is bound at a path the kernel would cut short), and the
//! explanation of a start QEMU refused because another QEMU holds one of the VM's images.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use maqet_runner::RemoteText;
use maqet_runner::layout::{MAX_SOCKET_PATH, VmPaths};
use maqet_state::{ProcessIdentity, VmRecord};
use maqet_storage::QemuImg;

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

    /// A start failure, explained when QEMU refused because another process holds a lock on
    /// an image (QEMU's image locking): names the file QEMU named and the QEMU holding it
    /// (directly, or as the backing image of a linked clone), with QEMU's own lines as the
    /// cause. Other failures are passed on as they are.
    pub(crate) fn explain_start_failure(
        &self,
        vm: &VmRecord,
        err: maqet_runner::RunnerError,
    ) -> MaqetError {
        let maqet_runner::RunnerError::QemuRefused { source, .. } = &err else {
            return err.into();
        };
        let forwards = crate::host_ports::declared(&vm.config);
        if let Some(port_error) = crate::host_ports::lost_race_error(&vm.name, &forwards, &source.0)
        {
            // Nothing is wrong with the VM: it stays as it was before this start.
            let update = maqet_state::RuntimeUpdate::cleared(vm.status)
                .with_reason("start refused: a forwarded host port was taken");
            if let Err(e) = self.db().and_then(|db| {
                Ok(db.compare_and_set_status(&vm.id, &[maqet_state::VmStatus::Failed], &update)?)
            }) {
                tracing::warn!(vm = %vm.name, "cannot undo the failed mark: {e}");
            }
            return port_error;
        }
        let Some(refusal) = LockRefusal::parse(&source.0) else {
            return err.into();
        };
        let census = self.census();
        if let Some(qemu) = census.qemus_in(&self.vm_paths(vm).runtime_dir).first() {
            return self.orphan_error(vm, qemu);
        }
        let file = match &refusal.path {
            Some(path) => path.clone(),
            None => return err.into(),
        };
        let others: Vec<VmRecord> = self
            .db()
            .and_then(|db| Ok(db.list_vms(None)?))
            .unwrap_or_default()
            .into_iter()
            .filter(|other| other.id != vm.id)
            .collect();
        let owner_of = |holder: &ProcessIdentity| {
            others
                .iter()
                .find(|other| other.qemu.is_some_and(|q| q == *holder))
        };
        let holder = if let Some(pid) = census.qemus_naming(&file).first() {
            Some(match owner_of(pid) {
                Some(other) => format!(
                    "QEMU pid {} of VM `{}`; stop it with `maqet stop {}`",
                    pid.pid, other.name, other.name
                ),
                None => format!("QEMU pid {} that maqet does not manage; stop it", pid.pid),
            })
        } else {
            others
                .iter()
                .filter(|other| other.qemu.is_some_and(|q| maqet_runner::process::is_alive(&q)))
                .find(|other| self.reads_through_backing(other, &file))
                .map(|other| {
                    format!(
                        "VM `{}`, whose disk is an overlay on it (a linked clone); stop it with `maqet stop {}` first",
                        other.name, other.name
                    )
                })
        };
        let holder = holder.map_or_else(
            || "another process".to_owned(),
            |h| format!("another QEMU: {h}"),
        );
        MaqetError::with_source(
            ErrorKind::AlreadyExists,
            format!(
                "VM `{}` cannot start: QEMU could not lock {} because it is in use by {holder}",
                vm.name,
                file.display()
            ),
            RemoteText(refusal.lines),
        )
    }

    /// Whether one of `other`'s drives has `file` below it in its qcow2 backing chain.
    fn reads_through_backing(&self, other: &VmRecord, file: &Path) -> bool {
        let target = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
        let qemu_img = QemuImg::new();
        let drives = self.vm_drives(other).unwrap_or_default();
        drives.into_iter().filter_map(|d| d.file).any(|top| {
            let mut next = Some(top);
            for _ in 0..16 {
                let Some(image) = next.take().filter(|p| p.is_file()) else {
                    return false;
                };
                let Some(backing) = qemu_img
                    .info(&image, true)
                    .ok()
                    .and_then(|i| i.backing_file)
                else {
                    return false;
                };
                if backing.canonicalize().unwrap_or_else(|_| backing.clone()) == target {
                    return true;
                }
                next = Some(backing);
            }
            false
        })
    }
}

/// QEMU's refusal to open an image another process has locked.
#[derive(Debug, PartialEq, Eq)]
struct LockRefusal {
    /// The image QEMU named (`Is another process using the image [PATH]?`).
    path: Option<PathBuf>,
    /// QEMU's lines about it.
    lines: String,
}

impl LockRefusal {
    /// Reads QEMU's stderr; `None` when it is not about an image lock.
    fn parse(stderr: &str) -> Option<LockRefusal> {
        const ASKS: &str = "Is another process using the image [";
        if !stderr.contains("Failed to get \"") {
            return None;
        }
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("Failed to get \"") || l.contains(ASKS))
            .collect();
        let path = stderr.find(ASKS).and_then(|at| {
            let rest = &stderr[at + ASKS.len()..];
            let end = rest.find("]?").or_else(|| rest.rfind(']'))?;
            Some(PathBuf::from(&rest[..end]))
        });
        Some(LockRefusal {
            path,
            lines: lines.join("\n"),
        })
    }
}

fn check_binary(binary: &Path) -> Result<(), MaqetError> {
    if binary.symlink_metadata().is_err() {
        // Missing: QEMU's launch reports that, with the path.
        return Ok(());
    }
    crate::trust::check_trusted(binary).map_err(|reason| MaqetError::UntrustedBinary {
        binary: binary.to_path_buf(),
        reason,
    })
}

/// Every socket path must fit in `sun_path` ([`MAX_SOCKET_PATH`] bytes).
pub(crate) fn check_socket_paths(paths: &VmPaths) -> Result<(), MaqetError> {
    for socket in paths.socket_paths() {
        let len = socket.as_os_str().as_bytes().len();
        if len > MAX_SOCKET_PATH {
            return Err(MaqetError::SocketPathTooLong {
                socket: socket.to_path_buf(),
                len,
                limit: MAX_SOCKET_PATH,
                runtime_root: paths
                    .runtime_dir
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(&paths.runtime_dir)
                    .to_path_buf(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_refusal_names_the_image_qemu_named() {
        let stderr = "qemu-system-x86_64: -blockdev node-name=hdd,driver=file,filename=/d/vms/1/hdd.qcow2: Failed to get \"write\" lock\nIs another process using the image [/d/vms/1/hdd.qcow2]?\n";
        let refusal = LockRefusal::parse(stderr).expect("a lock refusal");
        assert_eq!(
            refusal.path.as_deref(),
            Some(Path::new("/d/vms/1/hdd.qcow2"))
        );
        assert!(refusal.lines.contains("Failed to get \"write\" lock"));
        assert!(refusal.lines.contains("[/d/vms/1/hdd.qcow2]"));
        assert_eq!(
            LockRefusal::parse("qemu: -m 99T: cannot allocate memory"),
            None
        );
    }

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
