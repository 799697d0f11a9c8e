//! The native `Maqet` class: construction, the `with` block, and the one generic entry point
//! (`_invoke`) that the generated methods of `maqet._commands` call for every command.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use maqet_core::api::{InspectRequest, SnapshotOutcome, SnapshotRequest, StopRequest};
use maqet_core::registry::PythonReturn;
use maqet_core::{ErrorKind, Maqet as CoreMaqet, MaqetBuilder, MaqetError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;

use crate::convert::{kwargs_map, to_json, to_python};
use crate::errors::{self, Context};
use crate::faces::{self, Shaped};
use crate::worker::{CallError, Core};

/// Seconds each VM started through a `Maqet` gets to power down when it closes.
const CLOSE_STOP_TIMEOUT: f64 = 10.0;

/// VMs started through one `Maqet`, with the PID of the process that started them.
pub type Started = Arc<Mutex<Vec<(u32, String)>>>;

/// The maqet API (see `help(maqet.Maqet)`).
#[pyclass(module = "maqet._maqet", name = "Maqet", subclass, frozen)]
pub struct PyMaqet {
    core: Core,
    started: Started,
    data_dir: PathBuf,
    config_dir: PathBuf,
    runtime_dir: PathBuf,
}

/// The Python exception for a failed call.
pub(crate) fn fail(py: Python<'_>, err: CallError, context: Context) -> PyErr {
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

    /// Runs the command at `path` with `arguments` (its parameters by their registry names) and
    /// shapes the result as the command's Python face declares; the generated methods of
    /// `maqet._commands` call this.
    #[pyo3(signature = (path, arguments))]
    fn _invoke(
        &self,
        py: Python<'_>,
        path: &str,
        arguments: &Bound<'_, PyDict>,
    ) -> PyResult<Py<PyAny>> {
        let method = maqet_core::registry::find(path).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!("maqet has no command `{path}`"))
        })?;
        let args = to_json(arguments.as_any(), path)?;
        faces::confirm(py, method, &args)?;
        let started = self.started.clone();
        let shaped = self.run(py, Context::Plain, move |m| {
            faces::run(m, method, args, &started)
        })?;
        if let Shaped::Vm(vm) = &shaped
            && method.python.returns == PythonReturn::StoppedVm
        {
            self.forget_started(&vm.id);
        }
        shaped.into_python(py)
    }

    /// `status(detailed=True)`, deprecated: the status plus process facts and each qcow2
    /// drive's snapshot names.
    #[pyo3(signature = (vm_id))]
    fn _status_detailed(&self, py: Python<'_>, vm_id: String) -> PyResult<Py<PyAny>> {
        let value = self.run(py, Context::Plain, move |m| detailed_status(m, vm_id))?;
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
        if let Some(method) = maqet_core::registry::find(&command) {
            faces::confirm(py, method, &args)?;
        }
        let value = self.run(py, Context::Plain, move |m| m.call(&command, args))?;
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
        entry.set_item("python_name", method.python_method_name())?;
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
