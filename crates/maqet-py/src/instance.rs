//! `VMInstance`: what `start`, `stop` and `apply` return.

use maqet_core::results::VmStatusReport;
use pyo3::prelude::*;

/// A VM as it is after the call that returned it.
#[pyclass(module = "maqet", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct VMInstance {
    /// The VM's id (a UUID).
    pub id: String,
    /// The VM's name.
    pub name: String,
    /// `created`, `running`, `paused`, `stopped`, `crashed` or `failed`.
    pub status: String,
    /// QEMU's PID while the VM runs, else None.
    pub pid: Option<u32>,
    /// The runner's PID while the VM runs, else None.
    pub runner_pid: Option<u32>,
    /// The QMP socket while the VM runs, else None.
    pub socket_path: Option<String>,
    /// The first config file the VM was defined from, if any.
    pub config_path: Option<String>,
    /// When the VM was added (UTC, ISO 8601).
    pub created_at: String,
    /// When its record last changed (UTC, ISO 8601).
    pub updated_at: String,
    /// Whether QEMU runs (running or paused).
    pub is_running: bool,
    /// How the VM stopped, for what `stop` returns (`acpi`, `agent`, `quit`, `sigterm`,
    /// `sigkill` or `already-stopped`); None for `start` and `apply`.
    pub stop_method: Option<String>,
    /// For what `stop` returns: whether maqet had to end QEMU itself (`quit`, SIGTERM, SIGKILL)
    /// instead of the guest powering off; None for `start` and `apply`.
    pub forced: Option<bool>,
}

impl VMInstance {
    /// Takes the fields of a status report.
    pub fn of(report: &VmStatusReport) -> VMInstance {
        let path =
            |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        VMInstance {
            id: report.vm_id.clone(),
            name: report.name.clone(),
            status: report.status.as_str().to_string(),
            pid: report.pid,
            runner_pid: report.runner_pid,
            socket_path: path(&report.socket_path),
            config_path: path(&report.config_path),
            created_at: report.created_at.clone(),
            updated_at: report.updated_at.clone(),
            is_running: report.is_running,
            stop_method: None,
            forced: None,
        }
    }

    /// What `stop` returns: the VM, and how it stopped.
    pub fn stopped(report: &maqet_core::api::StopReport) -> VMInstance {
        let method = serde_json::to_value(report.method)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        VMInstance {
            stop_method: method,
            forced: Some(report.forced),
            ..VMInstance::of(&report.vm)
        }
    }
}

#[pymethods]
impl VMInstance {
    /// The same as `vm_id`: the reference calls the id both ways.
    #[getter]
    fn vm_id(&self) -> &str {
        &self.id
    }

    fn __repr__(&self) -> String {
        let quoted = |text: &str| format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"));
        format!(
            "VMInstance(id={}, name={}, status={}, pid={})",
            quoted(&self.id),
            quoted(&self.name),
            quoted(&self.status),
            self.pid
                .map_or_else(|| "None".to_string(), |p| p.to_string())
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<VMInstance>().is_ok_and(|o| {
            let o = o.get();
            o.id == self.id && o.status == self.status && o.updated_at == self.updated_at
        })
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.id.hash(&mut h);
        h.finish()
    }
}
