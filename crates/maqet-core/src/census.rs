//! The QEMU and `maqet-runner` processes that exist right now, found in `/proc`.
//!
//! The state database says which QEMU a VM has; a runner killed between spawning QEMU and
//! recording it (or a lost database) leaves a QEMU the database does not name. Every QEMU
//! maqet starts names the VM's runtime directory `<runtime>/vms/<id>/` on its command line
//! (its QMP and console sockets live there), and every runner has the VM's id as its second
//! argument, so one scan of `/proc` finds them all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use maqet_runner::process;
use maqet_state::ProcessIdentity;

/// One process found in `/proc`.
#[derive(Debug, Clone)]
struct Found {
    identity: ProcessIdentity,
    args: Vec<String>,
}

/// QEMU and runner processes seen by one scan of `/proc`.
#[derive(Debug, Clone, Default)]
pub struct Census {
    qemus: Vec<Found>,
    runners: Vec<Found>,
    /// `<vms_root>/`: the parent of every VM's runtime directory.
    vms_root: PathBuf,
    /// QEMUs by the VM id of the runtime directory their command line names.
    qemus_by_id: HashMap<String, Vec<ProcessIdentity>>,
    /// Runners by the VM id they work for.
    runners_by_id: HashMap<String, ProcessIdentity>,
}

impl Census {
    /// Scans `/proc` once; `vms_root` is `<runtime>/vms`, holding the VMs' runtime directories.
    pub fn scan(vms_root: &Path) -> Census {
        let mut census = Census {
            vms_root: vms_root.to_path_buf(),
            ..Census::default()
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return census;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Some(args) = process::cmdline(pid) else {
                continue;
            };
            let program = args
                .first()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or_default();
            let is_qemu = program.starts_with("qemu-system");
            let is_runner = program == maqet_runner::RUNNER_NAME;
            if !is_qemu && !is_runner {
                continue;
            }
            let Some(identity) = process::identity_of(pid) else {
                continue;
            };
            let found = Found { identity, args };
            if is_qemu {
                for id in ids_named(&found.args, vms_root) {
                    census.qemus_by_id.entry(id).or_default().push(identity);
                }
                census.qemus.push(found);
            } else {
                if let Some(id) = found.args.get(2) {
                    census.runners_by_id.insert(id.clone(), identity);
                }
                census.runners.push(found);
            }
        }
        for list in census.qemus_by_id.values_mut() {
            list.sort_by_key(|q| q.start_time);
            list.dedup();
        }
        census
    }

    /// Live QEMU processes whose command line names a file in `runtime_dir`, oldest first.
    pub fn qemus_in(&self, runtime_dir: &Path) -> Vec<ProcessIdentity> {
        if runtime_dir.parent() == Some(self.vms_root.as_path())
            && let Some(id) = runtime_dir.file_name().and_then(|n| n.to_str())
        {
            let found = self
                .qemus_by_id
                .get(id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            return found.iter().copied().filter(process::is_alive).collect();
        }
        let mut found = self.qemus_with_arg_containing(&format!("{}/", runtime_dir.display()));
        found.sort_by_key(|q| q.start_time);
        found
    }

    /// Live QEMU processes whose command line names `path` (e.g. a disk image).
    pub fn qemus_naming(&self, path: &Path) -> Vec<ProcessIdentity> {
        self.qemus_with_arg_containing(&path.display().to_string())
    }

    /// Live QEMU processes with an argument that contains `text`, as typed or with its commas
    /// doubled (QEMU's escape inside `-drive file=...`).
    fn qemus_with_arg_containing(&self, text: &str) -> Vec<ProcessIdentity> {
        let escaped = text.replace(',', ",,");
        self.qemus
            .iter()
            .filter(|q| {
                q.args
                    .iter()
                    .any(|a| a.contains(text) || a.contains(&escaped))
            })
            .map(|q| q.identity)
            .filter(process::is_alive)
            .collect()
    }

    /// Ids of the VMs whose runtime directory (under the scanned root) a QEMU names.
    pub fn vm_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.qemus_by_id.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// A live runner working for VM `vm_id` (`maqet-runner launch|adopt <id>`), if any.
    pub fn runner_for(&self, vm_id: &str) -> Option<ProcessIdentity> {
        self.runners_by_id
            .get(vm_id)
            .copied()
            .filter(process::is_alive)
    }

    /// Whether a live QEMU or runner names `dir` (a VM's runtime directory) or its id.
    pub fn uses_runtime_dir(&self, dir: &Path, vm_id: &str) -> bool {
        !self.qemus_in(dir).is_empty() || self.runner_for(vm_id).is_some()
    }
}

/// The VM ids of the runtime directories `<vms_root>/<id>/` that `args` name.
fn ids_named(args: &[String], vms_root: &Path) -> Vec<String> {
    let prefix = format!("{}/", vms_root.display());
    let escaped = prefix.replace(',', ",,");
    let mut ids = Vec::new();
    for arg in args {
        for prefix in [&prefix, &escaped] {
            let mut rest = arg.as_str();
            while let Some(at) = rest.find(prefix.as_str()) {
                rest = &rest[at + prefix.len()..];
                if let Some((id, _)) = rest.split_once('/')
                    && crate::identity::looks_like_vm_id(id)
                    && !ids.iter().any(|known| known == id)
                {
                    ids.push(id.to_owned());
                }
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_ids_come_from_paths_under_the_runtime_root() {
        let id = "0b6e3c1a-5f1e-4c8e-9d2a-7a1b2c3d4e5f";
        let args: Vec<String> = [
            "qemu-system-x86_64".to_owned(),
            "-qmp".to_owned(),
            format!("unix:/run/m,x/vms/{id}/qemu-qmp.sock,server=on"),
            format!("socket,path=/run/m,,x/vms/{id}/console.sock"),
            "file=/run/m,x/vms/not-an-id/disk".to_owned(),
        ]
        .into();
        assert_eq!(ids_named(&args, Path::new("/run/m,x/vms")), vec![id]);
        assert!(ids_named(&args, Path::new("/elsewhere/vms")).is_empty());
    }
}
