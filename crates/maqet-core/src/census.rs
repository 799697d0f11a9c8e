//! The QEMU and `maqet-runner` processes that exist right now, found in `/proc`.
//!
//! The state database says which QEMU a VM has; a runner killed between spawning QEMU and
//! recording it (or a lost database) leaves a QEMU the database does not name. Every QEMU
//! maqet starts names the VM's runtime directory `<runtime>/vms/<id>/` on its command line
//! (its QMP and console sockets live there), and every runner has the VM's id as its second
//! argument, so one scan of `/proc` finds them all.

use std::path::Path;

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
}

impl Census {
    /// Scans `/proc` once.
    pub fn scan() -> Census {
        let mut census = Census::default();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return census;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
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
                census.qemus.push(found);
            } else {
                census.runners.push(found);
            }
        }
        census
    }

    /// Live QEMU processes whose command line names a file in `runtime_dir`, oldest first.
    pub fn qemus_in(&self, runtime_dir: &Path) -> Vec<ProcessIdentity> {
        let plain = format!("{}/", runtime_dir.display());
        let escaped = plain.replace(',', ",,");
        let mut found: Vec<ProcessIdentity> = self
            .qemus
            .iter()
            .filter(|q| {
                q.args
                    .iter()
                    .any(|a| a.contains(&plain) || a.contains(&escaped))
            })
            .map(|q| q.identity)
            .filter(process::is_alive)
            .collect();
        found.sort_by_key(|q| q.start_time);
        found
    }

    /// Live QEMU processes whose command line names `path` (e.g. a disk image).
    pub fn qemus_naming(&self, path: &Path) -> Vec<ProcessIdentity> {
        let plain = path.display().to_string();
        let escaped = plain.replace(',', ",,");
        self.qemus
            .iter()
            .filter(|q| {
                q.args
                    .iter()
                    .any(|a| a.contains(&plain) || a.contains(&escaped))
            })
            .map(|q| q.identity)
            .filter(process::is_alive)
            .collect()
    }

    /// Ids of the VMs whose runtime directory `<vms_root>/<id>/` a live QEMU names.
    pub fn vm_ids_in(&self, vms_root: &Path) -> Vec<String> {
        let prefix = format!("{}/", vms_root.display());
        let mut ids: Vec<String> = self
            .qemus
            .iter()
            .flat_map(|q| q.args.iter())
            .filter_map(|arg| {
                let at = arg.find(&prefix)?;
                let rest = &arg[at + prefix.len()..];
                rest.split_once('/').map(|(id, _)| id.to_owned())
            })
            .filter(|id| crate::identity::looks_like_vm_id(id))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// A live runner working for VM `vm_id` (`maqet-runner launch|adopt <id>`), if any.
    pub fn runner_for(&self, vm_id: &str) -> Option<ProcessIdentity> {
        self.runners
            .iter()
            .find(|r| r.args.get(2).is_some_and(|id| id == vm_id))
            .map(|r| r.identity)
            .filter(process::is_alive)
    }

    /// Whether a live QEMU or runner names `dir` (a VM's runtime directory) or its id.
    pub fn uses_runtime_dir(&self, dir: &Path, vm_id: &str) -> bool {
        !self.qemus_in(dir).is_empty() || self.runner_for(vm_id).is_some()
    }
}
