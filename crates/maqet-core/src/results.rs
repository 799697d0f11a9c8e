//! Typed results of the VM commands; they serialize to the documented dict shapes.

use std::fmt::Write as _;
use std::path::PathBuf;

use maqet_state::{VmRecord, VmStatus};
use serde::Serialize;
use serde_json::Value;

use crate::registry::CommandOutput;

/// One drive in a configuration summary.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct DriveSummary {
    /// Drive name.
    pub name: String,
    /// `qcow2`, `raw` or `virtfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Configured size, or `unknown`.
    pub size: String,
    /// Bus the guest sees it on.
    pub interface: String,
    /// Image file or shared directory, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// The main facts of a VM config.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct ConfigurationSummary {
    /// QEMU binary.
    pub binary: String,
    /// Guest RAM, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// vCPU count, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    /// Display backend.
    pub display: String,
    /// Number of drives.
    pub storage_count: usize,
    /// The drives.
    pub storage_devices: Vec<DriveSummary>,
    /// Whether the VM has a guest agent channel (`guest_agent`).
    pub guest_agent: bool,
    /// Host ports forwarded to the guest (`ports`).
    pub ports: Vec<crate::config::forwards::PortForward>,
}

impl ConfigurationSummary {
    /// Summarizes a stored config. Memory and drive sizes are shown as the config writes
    /// them (`1024M` stays `1024M`), so those are read from the document itself.
    pub fn of(config: &Value) -> ConfigurationSummary {
        let typed = crate::config::VmConfig::from_value(config);
        let written_sizes = config.get("storage").and_then(Value::as_array);
        let drives: Vec<DriveSummary> = typed
            .storage
            .iter()
            .enumerate()
            .map(|(index, d)| DriveSummary {
                name: d.name.clone(),
                kind: d.kind.as_str().into(),
                size: written_sizes
                    .and_then(|items| items.get(index)?.get("size"))
                    .map_or_else(|| "unknown".into(), crate::config::scalar_text),
                interface: d.interface.as_str().into(),
                file: d
                    .file
                    .as_ref()
                    .or(d.path.as_ref())
                    .map(|p| p.to_string_lossy().into_owned()),
            })
            .collect();
        ConfigurationSummary {
            binary: typed.binary.unwrap_or_else(|| "qemu-system-x86_64".into()),
            memory: config.get("memory").map(crate::config::scalar_text),
            cpu: typed.cpu.map(i64::from),
            display: typed.display.unwrap_or_else(|| "none".into()),
            storage_count: drives.len(),
            storage_devices: drives,
            guest_agent: typed.guest_agent,
            ports: typed.ports,
        }
    }
}

/// A socket path and whether it exists.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct SocketState {
    /// Path of the socket.
    pub path: PathBuf,
    /// Whether the file is there.
    pub exists: bool,
}

/// `status`: what a VM is doing now.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct VmStatusReport {
    /// VM id (UUID).
    pub vm_id: String,
    /// VM name.
    pub name: String,
    /// `created`, `running`, `paused`, `stopped`, `crashed` or `failed`.
    pub status: VmStatus,
    /// Why it is in that state, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Whether QEMU runs (running or paused).
    pub is_running: bool,
    /// Whether the VM has no configuration yet.
    pub is_empty: bool,
    /// QEMU's PID while it runs.
    pub pid: Option<u32>,
    /// The runner's PID while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_pid: Option<u32>,
    /// When the VM was added (UTC).
    pub created_at: String,
    /// When its record last changed (UTC).
    pub updated_at: String,
    /// The first config file it was defined from.
    pub config_path: Option<PathBuf>,
    /// The QMP socket of the running VM.
    pub socket_path: Option<PathBuf>,
    /// The QMP socket and whether it exists, while the VM runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qmp_socket: Option<SocketState>,
    /// Summary of the configuration.
    pub configuration: ConfigurationSummary,
    /// With first-boot identity: the SSH endpoint chosen at the last start (`maqet ssh`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshSummary>,
    /// With `tpm: true`, while it runs: the pid of the VM's TPM emulator (swtpm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm_pid: Option<u32>,
}

/// Where `maqet ssh` connects.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct SshSummary {
    /// Host address.
    pub host: String,
    /// Host port forwarded to the guest's port 22.
    pub port: u16,
    /// Guest user.
    pub user: String,
}

impl VmStatusReport {
    /// Builds the report from a record whose status is already checked against reality.
    pub fn of(vm: &VmRecord) -> VmStatusReport {
        let running = matches!(vm.status, VmStatus::Running | VmStatus::Paused);
        VmStatusReport {
            vm_id: vm.id.clone(),
            name: vm.name.clone(),
            status: vm.status,
            status_reason: vm.status_reason.clone(),
            is_running: running,
            is_empty: vm.config.as_object().is_none_or(|m| m.is_empty()),
            pid: vm.qemu.map(|p| p.pid),
            runner_pid: vm.runner.map(|p| p.pid),
            created_at: vm.created_at.clone(),
            updated_at: vm.updated_at.clone(),
            config_path: vm.config_paths.first().cloned(),
            socket_path: vm.qmp_socket.clone(),
            qmp_socket: vm.qmp_socket.as_ref().map(|p| SocketState {
                path: p.clone(),
                exists: p.exists(),
            }),
            configuration: ConfigurationSummary::of(&vm.config),
            ssh: None,
            tpm_pid: None,
        }
    }
}

impl CommandOutput for VmStatusReport {
    fn human(&self) -> Option<String> {
        let mut out = String::new();
        let _ = writeln!(out, "name:       {}", self.name);
        let _ = writeln!(out, "id:         {}", self.vm_id);
        match &self.status_reason {
            Some(reason) => {
                let _ = writeln!(out, "status:     {} ({reason})", self.status);
            }
            None => {
                let _ = writeln!(out, "status:     {}", self.status);
            }
        }
        if let Some(pid) = self.pid {
            let _ = writeln!(out, "pid:        {pid}");
        }
        if let Some(sock) = &self.socket_path {
            let _ = writeln!(out, "qmp socket: {}", sock.display());
        }
        for forward in &self.configuration.ports {
            let _ = writeln!(out, "port:       {forward}");
        }
        if let Some(pid) = self.tpm_pid {
            let _ = writeln!(out, "tpm:        swtpm pid {pid}");
        }
        if let Some(ssh) = &self.ssh {
            let _ = writeln!(out, "ssh:        {}@{}:{}", ssh.user, ssh.host, ssh.port);
        }
        if self.is_empty {
            let _ = writeln!(
                out,
                "config:     (empty; add one with `maqet apply {} FILE`)",
                self.name
            );
        }
        let _ = write!(out, "created:    {}", self.created_at);
        Some(out)
    }
}

/// `add`: the new VM. Prints its id.
#[derive(Debug, Clone, Serialize)]
pub struct AddedVm(pub VmStatusReport);

impl AddedVm {
    /// The new VM's id (what `add` prints).
    pub fn into_vm_id(self) -> String {
        self.0.vm_id
    }
}

impl CommandOutput for AddedVm {
    fn human(&self) -> Option<String> {
        Some(self.0.vm_id.clone())
    }
}

/// `apply`: the VM after the change.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedConfig {
    /// The VM.
    #[serde(flatten)]
    pub vm: VmStatusReport,
    /// True when `apply` created the VM.
    pub created: bool,
    /// True when the stored config changed.
    pub changed: bool,
}

impl CommandOutput for AppliedConfig {
    fn human(&self) -> Option<String> {
        Some(match (self.created, self.changed) {
            (true, _) => format!("created VM {} ({})", self.vm.name, self.vm.vm_id),
            (false, true) => format!("updated VM {}", self.vm.name),
            (false, false) => format!("VM {} unchanged", self.vm.name),
        })
    }
}

/// `info`: a VM's configuration and command line.
#[derive(Debug, Clone, Serialize, maqet_macros::PythonDict)]
pub struct VmInfo {
    /// VM id.
    pub vm_id: String,
    /// VM name.
    pub name: String,
    /// First config file.
    pub config_path: Option<PathBuf>,
    /// All config files, in merge order.
    pub config_paths: Vec<PathBuf>,
    /// The stored (merged) config.
    pub config_data: Value,
    /// The config as maqet starts the VM: `config_data` plus what first-boot identity adds
    /// (the seed drive and the SSH forward of the last start). What `export` renders.
    pub run_config: Value,
    /// Summary of the config.
    pub configuration: ConfigurationSummary,
    /// The VM's data directory (disks, logs).
    pub data_dir: PathBuf,
    /// The QEMU command line this config produces, control sockets included.
    pub qemu_argv: Vec<String>,
    /// The UEFI firmware and NVRAM (`firmware: uefi` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<crate::api::FirmwareInfo>,
}

impl CommandOutput for VmInfo {
    fn human(&self) -> Option<String> {
        let mut out = String::new();
        let _ = writeln!(out, "name:     {}", self.name);
        let _ = writeln!(out, "id:       {}", self.vm_id);
        let c = &self.configuration;
        let _ = writeln!(out, "binary:   {}", c.binary);
        let _ = writeln!(
            out,
            "memory:   {}",
            c.memory.as_deref().unwrap_or("(QEMU default)")
        );
        let _ = writeln!(
            out,
            "cpu:      {}",
            c.cpu.map_or("(QEMU default)".into(), |n| n.to_string())
        );
        let _ = writeln!(out, "display:  {}", c.display);
        for d in &c.storage_devices {
            let _ = writeln!(
                out,
                "drive:    {} ({}, {}, {}){}",
                d.name,
                d.kind,
                d.interface,
                d.size,
                d.file
                    .as_deref()
                    .map(|f| format!(" {f}"))
                    .unwrap_or_default()
            );
        }
        if let Some(fw) = &self.firmware {
            let _ = writeln!(
                out,
                "firmware: uefi{} ({})",
                if fw.selected.secure_boot {
                    ", Secure Boot"
                } else {
                    ""
                },
                fw.selected.code.display()
            );
            let _ = writeln!(
                out,
                "nvram:    {}{}",
                fw.nvram.display(),
                if fw.nvram_exists {
                    ""
                } else {
                    " (made at the first start)"
                }
            );
        }
        let _ = write!(out, "command:  {}", shell_words(&self.qemu_argv));
        Some(out)
    }
}

/// Joins argv words so the line can be pasted into a shell.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_=,./:+@%".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One row of `ls`.
#[derive(Debug, Clone, Serialize)]
pub struct VmListRow {
    /// VM name.
    pub name: String,
    /// VM id.
    pub vm_id: String,
    /// Current status.
    pub status: VmStatus,
    /// QEMU's PID while it runs.
    pub pid: Option<u32>,
}

/// `ls`: the VMs.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct VmList(pub Vec<VmListRow>);

impl CommandOutput for VmList {
    /// Strings, a status name and an integer per row: the same text as through the value,
    /// without building a `serde_json::Value` of every row.
    fn json_text(&self) -> Option<String> {
        crate::registry::pretty_json(self)
    }

    fn human(&self) -> Option<String> {
        if self.0.is_empty() {
            return Some("No virtual machines found.".into());
        }
        let width = self
            .0
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(0)
            .max(20);
        // Written column by column (as `{:<width$} {:<10} {}` would pad them), without a
        // formatting pass per cell: this is the whole cost of `ls` for thousands of VMs.
        let mut out = String::with_capacity((width + 22) * (self.0.len() + 2));
        push_padded(&mut out, "NAME", width);
        out.push(' ');
        push_padded(&mut out, "STATUS", 10);
        out.push_str(" PID\n");
        out.push_str(&"-".repeat(width + 20));
        for row in &self.0 {
            out.push('\n');
            push_padded(&mut out, &row.name, width);
            out.push(' ');
            push_padded(&mut out, row.status.as_str(), 10);
            out.push(' ');
            match row.pid {
                Some(pid) => {
                    let _ = write!(out, "{pid}");
                }
                None => out.push('-'),
            }
        }
        Some(out)
    }
}

/// Appends `text` and then spaces up to `width` characters (what `{:<width$}` does).
fn push_padded(out: &mut String, text: &str, width: usize) {
    const SPACES: &str = "                                ";
    out.push_str(text);
    let mut missing = width.saturating_sub(text.chars().count());
    while missing > 0 {
        let n = missing.min(SPACES.len());
        out.push_str(&SPACES[..n]);
        missing -= n;
    }
}

/// `rm`: what was removed, deleted and kept.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RemoveReport {
    /// Names of the removed VMs.
    pub removed: Vec<String>,
    /// Files maqet had created and deleted now (`--clean-storage`): disks, overlays, logs.
    pub deleted_files: Vec<PathBuf>,
    /// Files kept, each once, with the reason.
    pub kept: Vec<KeptFile>,
}

/// A file `rm` left in place, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeptFile {
    /// The file.
    pub path: PathBuf,
    /// Why it stayed (your own file, still used by another VM, no `--clean-storage`).
    pub reason: String,
}

impl RemoveReport {
    /// Records a kept file, unless it is already listed as kept or deleted.
    pub(crate) fn keep(&mut self, path: PathBuf, reason: &str) {
        if self.kept.iter().any(|k| k.path == path) || self.deleted_files.contains(&path) {
            return;
        }
        self.kept.push(KeptFile {
            path,
            reason: reason.to_owned(),
        });
    }

    /// Records a deleted file (one kept earlier for another VM is then no longer kept).
    pub(crate) fn deleted(&mut self, path: PathBuf) {
        self.kept.retain(|k| k.path != path);
        if !self.deleted_files.contains(&path) {
            self.deleted_files.push(path);
        }
    }
}

impl CommandOutput for RemoveReport {
    fn human(&self) -> Option<String> {
        let mut lines = Vec::new();
        if self.removed.is_empty() {
            lines.push("No virtual machines found.".to_string());
        }
        for name in &self.removed {
            lines.push(format!("removed VM {name}"));
        }
        for f in &self.deleted_files {
            lines.push(format!("deleted {}", f.display()));
        }
        for k in &self.kept {
            lines.push(format!("kept {} ({})", k.path.display(), k.reason));
        }
        Some(lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table `ls` printed before it was written by hand, cell by cell.
    fn formatted(rows: &[VmListRow]) -> String {
        let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(20);
        let mut out = format!("{:<width$} {:<10} {}\n", "NAME", "STATUS", "PID");
        out.push_str(&"-".repeat(width + 20));
        for row in rows {
            let pid = row.pid.map_or_else(|| "-".to_string(), |p| p.to_string());
            let _ = write!(
                out,
                "\n{:<width$} {:<10} {}",
                row.name,
                row.status.as_str(),
                pid
            );
        }
        out
    }

    #[test]
    fn ls_table_pads_like_the_format_macro() {
        let row = |name: &str, status, pid| VmListRow {
            name: name.into(),
            vm_id: "id".into(),
            status,
            pid,
        };
        for rows in [
            vec![row("web", VmStatus::Running, Some(4242))],
            vec![
                row(
                    "a-rather-long-virtual-machine-name-indeed-yes",
                    VmStatus::Stopped,
                    None,
                ),
                row("zürich-ünïcode", VmStatus::Paused, Some(7)),
                row("", VmStatus::Created, None),
            ],
        ] {
            assert_eq!(VmList(rows.clone()).human(), Some(formatted(&rows)));
        }
    }
}
