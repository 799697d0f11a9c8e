//! The Python `Maqet` class: the reference's methods, each one call into `maqet_core`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use maqet_core::api::{
    AddRequest, ApplyRequest, DeviceAddRequest, DeviceDelRequest, InfoRequest, InspectRequest,
    LsRequest, QmpContRequest, QmpKeyRequest, QmpStopRequest, QmpTypeRequest, RmRequest,
    ScreendumpRequest, SnapshotOutcome, SnapshotRequest, StartRequest, StatusRequest, StopRequest,
};
use maqet_core::registry::{CommandOutput, ConfigOverrides, KeyValues};
use maqet_core::{ErrorKind, Maqet as CoreMaqet, MaqetBuilder, MaqetError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use serde_json::Value;

use crate::convert::{config_files, kwargs_map, to_json, to_python};
use crate::errors::{self, Context};
use crate::instance::VMInstance;
use crate::worker::{CallError, Core};

/// Seconds each VM started through a `Maqet` gets to power down when it closes.
const CLOSE_STOP_TIMEOUT: f64 = 10.0;

/// VMs started through one `Maqet`, with the PID of the process that started them.
type Started = Arc<Mutex<Vec<(u32, String)>>>;

/// The maqet API (see `help(maqet.Maqet)`).
#[pyclass(module = "maqet._maqet", name = "Maqet", subclass, frozen)]
pub struct PyMaqet {
    core: Core,
    started: Started,
    data_dir: PathBuf,
    config_dir: PathBuf,
    runtime_dir: PathBuf,
}

fn fail(py: Python<'_>, err: CallError, context: Context) -> PyErr {
    match err {
        CallError::Maqet(e) => errors::to_py(py, &e, context),
        CallError::Python(e) => e,
    }
}

fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl PyMaqet {
    fn run<T, F>(&self, py: Python<'_>, context: Context, f: F) -> PyResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&CoreMaqet) -> Result<T, MaqetError> + Send + 'static,
    {
        self.core.run(py, f).map_err(|e| fail(py, e, context))
    }

    fn run_json<T, F>(&self, py: Python<'_>, f: F) -> PyResult<Py<PyAny>>
    where
        T: serde::Serialize + Send + 'static,
        F: FnOnce(&CoreMaqet) -> Result<T, MaqetError> + Send + 'static,
    {
        let value = self.run(py, Context::Plain, move |m| f(m).map(|r| json_of(&r)))?;
        to_python(py, &value)
    }

    fn forget_started(&self, vm: &str) {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        started.retain(|(_, id)| id != vm);
    }

    fn stop_started(&self, py: Python<'_>) -> PyResult<()> {
        let pid = std::process::id();
        let ours: Vec<String> = {
            let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
            let (mine, others): (Vec<_>, Vec<_>) = started.drain(..).partition(|(p, _)| *p == pid);
            *started = others;
            mine.into_iter().rev().map(|(_, id)| id).collect()
        };
        let mut first_error = None;
        for id in ours {
            let result = self.run(py, Context::Plain, move |m| {
                let stop = StopRequest {
                    timeout: CLOSE_STOP_TIMEOUT.into(),
                    ..StopRequest::new(id)
                };
                match m.execute(stop) {
                    Ok(_) => Ok(()),
                    // Removed inside the block: nothing left to stop.
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(e),
                }
            });
            if let Err(e) = result {
                if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                    return Err(e);
                }
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Where the wheel puts `maqet-runner`: `maqet/bin/` beside this module.
fn bundled_runner(py: Python<'_>) -> Option<PathBuf> {
    let module = py.import("maqet._maqet").ok()?;
    let file: String = module.getattr("__file__").ok()?.extract().ok()?;
    let runner = PathBuf::from(file)
        .parent()?
        .join("bin")
        .join("maqet-runner");
    runner.is_file().then_some(runner)
}

#[pymethods]
impl PyMaqet {
    #[new]
    #[pyo3(signature = (data_dir=None, config_dir=None, runtime_dir=None))]
    fn new(
        py: Python<'_>,
        data_dir: Option<&Bound<'_, PyAny>>,
        config_dir: Option<&Bound<'_, PyAny>>,
        runtime_dir: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyMaqet> {
        let path = |v: Option<&Bound<'_, PyAny>>, what: &str| -> PyResult<Option<PathBuf>> {
            match v
                .filter(|v| !v.is_none())
                .map(|v| to_json(v, what))
                .transpose()?
            {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(maqet_core::config::absolute(&PathBuf::from(s)))),
                Some(_) => Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "{what} must be a path (str or os.PathLike)"
                ))),
            }
        };
        let mut builder = MaqetBuilder::default();
        if let Some(d) = path(data_dir, "data_dir")? {
            builder = builder.data_dir(d);
        }
        if let Some(d) = path(config_dir, "config_dir")? {
            builder = builder.config_dir(d);
        }
        if let Some(d) = path(runtime_dir, "runtime_dir")? {
            builder = builder.runtime_dir(d);
        }
        if let Some(runner) = bundled_runner(py) {
            builder = builder.runner_path(runner);
        }
        // Built once here so a broken maqet.conf fails now, and to learn the directories.
        let probe = builder
            .clone()
            .build()
            .map_err(|e| errors::to_py(py, &e, Context::Plain))?;
        let dirs = probe.dirs();
        // Calls use exactly these directories and settings, whatever the environment does later.
        let builder = builder
            .settings(probe.settings().clone())
            .data_dir(dirs.data.clone())
            .config_dir(dirs.config.clone())
            .runtime_dir(dirs.runtime.clone());
        Ok(PyMaqet {
            data_dir: dirs.data.clone(),
            config_dir: dirs.config.clone(),
            runtime_dir: dirs.runtime.clone(),
            core: Core::new(builder),
            started: Arc::default(),
        })
    }

    /// The data directory (database, disks, logs).
    #[getter]
    fn data_dir(&self) -> String {
        self.data_dir.to_string_lossy().into_owned()
    }

    /// The config directory (where `maqet.conf` is read from).
    #[getter]
    fn config_dir(&self) -> String {
        self.config_dir.to_string_lossy().into_owned()
    }

    /// The runtime directory (sockets of running VMs).
    #[getter]
    fn runtime_dir(&self) -> String {
        self.runtime_dir.to_string_lossy().into_owned()
    }

    fn __repr__(&self) -> String {
        format!("Maqet(data_dir={:?})", self.data_dir.to_string_lossy())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Stops the VMs started through this object, then lets any exception of the block go on.
    #[pyo3(signature = (exc_type=None, exc_value=None, traceback=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_value, traceback);
        let raised = exc_type.is_some_and(|t| !t.is_none());
        match self.stop_started(py) {
            Ok(()) => Ok(false),
            // The block's own exception matters more; report the cleanup failure as a warning.
            Err(e) if raised => {
                let warnings = py.import("warnings")?;
                let text = format!("stopping the VMs started in this block failed: {e}");
                let category = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
                warnings.call_method1("warn", (text, category, 2))?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Stops every VM started through this object (as leaving a `with` block does).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.stop_started(py)
    }

    #[pyo3(signature = (config=None, name=None, empty=false, force=false, **kwargs), text_signature = "($self, config=None, name=None, empty=False, force=False, **kwargs)")]
    fn add(
        &self,
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        name: Option<String>,
        empty: bool,
        force: bool,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let files = config_files(config)?;
        let set = ConfigOverrides(kwargs_map(kwargs, "add")?);
        self.run(py, Context::Plain, move |m| {
            let add = AddRequest {
                config: files,
                name,
                empty,
                force,
                set,
                ..AddRequest::new()
            };
            m.execute(add).map(|a| a.0.vm_id)
        })
    }

    #[pyo3(signature = (vm_id), text_signature = "($self, vm_id)")]
    fn start(&self, py: Python<'_>, vm_id: String) -> PyResult<VMInstance> {
        let started = self.started.clone();
        self.run(py, Context::Start, move |m| {
            let report = m.execute(StartRequest::new(vm_id))?;
            let mut list = started.lock().unwrap_or_else(|e| e.into_inner());
            list.push((std::process::id(), report.vm.vm_id.clone()));
            Ok(VMInstance::of(&report.vm))
        })
    }

    #[pyo3(signature = (vm_id, force=false, timeout=30.0), text_signature = "($self, vm_id, force=False, timeout=30)")]
    fn stop(
        &self,
        py: Python<'_>,
        vm_id: String,
        force: bool,
        timeout: f64,
    ) -> PyResult<VMInstance> {
        let vm = self.run(py, Context::Plain, move |m| {
            let stop = StopRequest {
                force,
                timeout: timeout.into(),
                ..StopRequest::new(vm_id)
            };
            m.execute(stop).map(|r| VMInstance::stopped(&r))
        })?;
        self.forget_started(&vm.id);
        Ok(vm)
    }

    #[pyo3(signature = (vm_id=None, force=false, all=false, clean_storage=false), text_signature = "($self, vm_id=None, force=False, all=False, clean_storage=False)")]
    fn rm(
        &self,
        py: Python<'_>,
        vm_id: Option<String>,
        force: bool,
        all: bool,
        clean_storage: bool,
    ) -> PyResult<bool> {
        if all && !force && vm_id.is_none() {
            confirm_remove_all(py)?;
        }
        self.run(py, Context::Plain, move |m| {
            let rm = RmRequest {
                vm: vm_id.into_iter().collect(),
                force,
                all,
                clean_storage,
            };
            m.execute(rm).map(|_| true)
        })
    }

    #[pyo3(signature = (status=None), text_signature = "($self, status=None)")]
    fn ls(&self, py: Python<'_>, status: Option<String>) -> PyResult<String> {
        self.run(py, Context::Plain, move |m| {
            let status = status
                .map(|s| {
                    maqet_core::registry::parse_choice::<maqet_core::VmStatus>("ls", "status", &s)
                })
                .transpose()?;
            m.execute(LsRequest { status })
                .map(|list| list.human().unwrap_or_default())
        })
    }

    #[pyo3(signature = (vm_id, detailed=false), text_signature = "($self, vm_id, detailed=False)")]
    fn status(&self, py: Python<'_>, vm_id: String, detailed: bool) -> PyResult<Py<PyAny>> {
        if !detailed {
            return self.run_json(py, move |m| m.execute(StatusRequest::new(vm_id)));
        }
        let warnings = py.import("warnings")?;
        let category = py.get_type::<pyo3::exceptions::PyDeprecationWarning>();
        warnings.call_method1(
            "warn",
            (
                "status(detailed=True) is deprecated: use info() for the configuration and inspect() for process details",
                category,
                2,
            ),
        )?;
        self.run_json(py, move |m| detailed_status(m, vm_id))
    }

    #[pyo3(signature = (vm_id), text_signature = "($self, vm_id)")]
    fn info(&self, py: Python<'_>, vm_id: String) -> PyResult<Py<PyAny>> {
        self.run_json(py, move |m| m.execute(InfoRequest::new(vm_id)))
    }

    #[pyo3(signature = (vm_id), text_signature = "($self, vm_id)")]
    fn inspect(&self, py: Python<'_>, vm_id: String) -> PyResult<Py<PyAny>> {
        self.run_json(py, move |m| m.execute(InspectRequest::new(vm_id)))
    }

    #[pyo3(signature = (vm_id, config=None, force=false, **kwargs), text_signature = "($self, vm_id, config=None, force=False, **kwargs)")]
    fn apply(
        &self,
        py: Python<'_>,
        vm_id: String,
        config: Option<&Bound<'_, PyAny>>,
        force: bool,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<VMInstance> {
        let files = config_files(config)?;
        let set = ConfigOverrides(kwargs_map(kwargs, "apply")?);
        self.run(py, Context::Plain, move |m| {
            let apply = ApplyRequest {
                config: files,
                force,
                set,
                ..ApplyRequest::new(vm_id)
            };
            m.execute(apply).map(|a| VMInstance::of(&a.vm))
        })
    }

    #[pyo3(signature = (vm_id, command, **kwargs), text_signature = "($self, vm_id, command, **kwargs)")]
    fn qmp(
        &self,
        py: Python<'_>,
        vm_id: String,
        command: String,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let arguments = kwargs_map(kwargs, "qmp")?;
        let arguments = (!arguments.is_empty()).then_some(Value::Object(arguments));
        self.run_json(py, move |m| {
            m.qmp_execute(&vm_id, &command, arguments, false)
        })
    }

    #[pyo3(signature = (vm_id, *keys, hold_time=100), text_signature = "($self, vm_id, *keys, hold_time=100)")]
    fn qmp_key(
        &self,
        py: Python<'_>,
        vm_id: String,
        keys: &Bound<'_, PyTuple>,
        hold_time: u32,
    ) -> PyResult<Py<PyAny>> {
        let keys: Vec<String> = keys.extract()?;
        self.run_json(py, move |m| {
            m.execute(QmpKeyRequest {
                keys,
                hold_time,
                ..QmpKeyRequest::new(vm_id)
            })
        })
    }

    #[pyo3(signature = (vm_id, text, hold_time=100), text_signature = "($self, vm_id, text, hold_time=100)")]
    fn qmp_type(
        &self,
        py: Python<'_>,
        vm_id: String,
        text: String,
        hold_time: u32,
    ) -> PyResult<Py<PyAny>> {
        self.run_json(py, move |m| {
            m.execute(QmpTypeRequest {
                hold_time,
                ..QmpTypeRequest::new(vm_id, text)
            })
        })
    }

    #[pyo3(signature = (vm_id, filename), text_signature = "($self, vm_id, filename)")]
    fn screendump(
        &self,
        py: Python<'_>,
        vm_id: String,
        filename: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let file = match to_json(filename, "filename")? {
            Value::String(s) => PathBuf::from(s),
            _ => {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "filename must be a path (str or os.PathLike)",
                ));
            }
        };
        self.run_json(py, move |m| m.execute(ScreendumpRequest::new(vm_id, file)))
    }

    #[pyo3(signature = (vm_id), text_signature = "($self, vm_id)")]
    fn qmp_stop(&self, py: Python<'_>, vm_id: String) -> PyResult<Py<PyAny>> {
        self.run_json(py, move |m| m.execute(QmpStopRequest::new(vm_id)))
    }

    #[pyo3(signature = (vm_id), text_signature = "($self, vm_id)")]
    fn qmp_cont(&self, py: Python<'_>, vm_id: String) -> PyResult<Py<PyAny>> {
        self.run_json(py, move |m| m.execute(QmpContRequest::new(vm_id)))
    }

    #[pyo3(signature = (vm_id, driver, device_id, **kwargs), text_signature = "($self, vm_id, driver, device_id, **kwargs)")]
    fn device_add(
        &self,
        py: Python<'_>,
        vm_id: String,
        driver: String,
        device_id: String,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let props = KeyValues(kwargs_map(kwargs, "device_add")?);
        self.run_json(py, move |m| {
            m.execute(DeviceAddRequest {
                props,
                ..DeviceAddRequest::new(vm_id, driver, device_id)
            })
        })
    }

    #[pyo3(signature = (vm_id, device_id), text_signature = "($self, vm_id, device_id)")]
    fn device_del(&self, py: Python<'_>, vm_id: String, device_id: String) -> PyResult<Py<PyAny>> {
        self.run_json(py, move |m| {
            m.execute(DeviceDelRequest::new(vm_id, device_id))
        })
    }

    #[pyo3(signature = (vm_id, action, drive, name=None, overwrite=false), text_signature = "($self, vm_id, action, drive, name=None, overwrite=False)")]
    fn snapshot(
        &self,
        py: Python<'_>,
        vm_id: String,
        action: String,
        drive: String,
        name: Option<String>,
        overwrite: bool,
    ) -> PyResult<Py<PyAny>> {
        let value = self.run(py, Context::Snapshot, move |m| {
            let action = maqet_core::registry::parse_choice::<maqet_core::api::SnapshotAction>(
                "snapshot", "action", &action,
            )?;
            Ok(
                match m.execute(SnapshotRequest {
                    name,
                    overwrite,
                    ..SnapshotRequest::new(vm_id, action, drive)
                })? {
                    SnapshotOutcome::Changed(change) => json_of(&change),
                    SnapshotOutcome::Listed(list) => {
                        Value::Array(list.0.into_iter().map(|s| Value::String(s.name)).collect())
                    }
                },
            )
        })?;
        to_python(py, &value)
    }

    /// Calls any maqet command by name (`"clone"`, `"storage info"`, `"wait"`), with its
    /// parameters as keyword arguments; returns the command's JSON result as Python values.
    #[pyo3(signature = (command, **kwargs), text_signature = "($self, command, **kwargs)")]
    fn call(
        &self,
        py: Python<'_>,
        command: String,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let args = Value::Object(kwargs_map(kwargs, &command)?);
        let is_start = command == "start";
        let value = self.run(
            py,
            if is_start {
                Context::Start
            } else {
                Context::Plain
            },
            move |m| m.call(&command, args),
        )?;
        to_python(py, &value)
    }
}

/// `status(detailed=True)`: status plus process facts and each qcow2 drive's snapshot names.
fn detailed_status(m: &CoreMaqet, vm: String) -> Result<Value, MaqetError> {
    let inspection = m.execute(InspectRequest::new(vm.clone()))?;
    let mut value = json_of(&inspection.status);
    let Value::Object(map) = &mut value else {
        return Ok(value);
    };
    if let Some(process) = &inspection.process {
        map.insert("process".into(), json_of(process));
    }
    let mut snapshots = serde_json::Map::new();
    for drive in &inspection.status.configuration.storage_devices {
        if drive.kind != "qcow2" {
            continue;
        }
        if let Ok(SnapshotOutcome::Listed(list)) = m.execute(SnapshotRequest::new(
            vm.clone(),
            maqet_core::api::SnapshotAction::List,
            drive.name.clone(),
        )) {
            let names: Vec<Value> = list.0.into_iter().map(|s| Value::String(s.name)).collect();
            snapshots.insert(
                drive.name.clone(),
                serde_json::json!({"snapshot_count": names.len(), "snapshots": names}),
            );
        }
    }
    map.insert("snapshots".into(), Value::Object(snapshots));
    Ok(value)
}

/// The question `rm --all` asks, as the registry declares it.
fn remove_all_question() -> &'static str {
    maqet_core::registry::find("rm")
        .and_then(|m| m.param("all"))
        .and_then(|p| p.confirm)
        .unwrap_or("Remove ALL virtual machines?")
}

/// `rm(all=True)` without `force`: asks on a terminal; without one, refuses.
fn confirm_remove_all(py: Python<'_>) -> PyResult<()> {
    let sys = py.import("sys")?;
    let stdin = sys.getattr("stdin")?;
    let interactive = !stdin.is_none()
        && stdin
            .call_method0("isatty")
            .and_then(|v| v.extract::<bool>())
            .unwrap_or(false);
    if !interactive {
        return Err(errors::raise(
            py,
            "MaqetError",
            "rm(all=True) removes every VM and there is no terminal to confirm on; pass force=True to remove them all, nothing was removed",
            ErrorKind::InvalidInput,
        ));
    }
    let builtins = py.import("builtins")?;
    let answer: String = builtins
        .call_method1("input", (format!("{} [y/N]: ", remove_all_question()),))?
        .extract()?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(errors::raise(
            py,
            "MaqetError",
            "cancelled; no VM was removed",
            ErrorKind::Cancelled,
        ))
    }
}

/// The registry, for the Python side: every command with its help text and parameters.
#[pyfunction]
pub fn commands(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let list = PyList::empty(py);
    for method in maqet_core::registry::methods() {
        if method.hidden {
            continue;
        }
        let entry = PyDict::new(py);
        entry.set_item("path", method.path())?;
        entry.set_item("about", method.about)?;
        entry.set_item("long_about", method.long_about)?;
        entry.set_item("examples", method.examples.to_vec())?;
        let params = PyList::empty(py);
        for p in method.params {
            let param = PyDict::new(py);
            param.set_item("name", p.name)?;
            param.set_item("kind", to_python(py, &json_of(&p.kind))?)?;
            param.set_item("required", p.required)?;
            param.set_item("positional", p.positional)?;
            param.set_item("help", p.help)?;
            param.set_item("default", p.default)?;
            params.append(param)?;
        }
        entry.set_item("params", params)?;
        list.append(entry)?;
    }
    Ok(list.into_any().unbind())
}
