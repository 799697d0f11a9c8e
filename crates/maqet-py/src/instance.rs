//! `VMInstance`: what `start`, `stop` and `apply` return, read from their JSON results.

use pyo3::prelude::*;
use serde_json::Value;

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
    /// Takes the fields of a result holding a status report (`start`, `apply`: the report's
    /// fields are flattened into the result's JSON).
    pub fn from_value(value: &Value) -> VMInstance {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let pid = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|p| u32::try_from(p).ok())
        };
        VMInstance {
            id: text("vm_id").unwrap_or_default(),
            name: text("name").unwrap_or_default(),
            status: text("status").unwrap_or_default(),
            pid: pid("pid"),
            runner_pid: pid("runner_pid"),
            socket_path: text("socket_path"),
            config_path: text("config_path"),
            created_at: text("created_at").unwrap_or_default(),
            updated_at: text("updated_at").unwrap_or_default(),
            is_running: value
                .get("is_running")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            stop_method: None,
            forced: None,
        }
    }

    /// What `stop` returns: the VM, and how it stopped (`method`, `forced` of its result).
    pub fn stopped_from_value(value: &Value) -> VMInstance {
        VMInstance {
            stop_method: value
                .get("method")
                .and_then(Value::as_str)
                .map(str::to_owned),
            forced: value.get("forced").and_then(Value::as_bool),
            ..VMInstance::from_value(value)
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
