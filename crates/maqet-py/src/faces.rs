//! One command call from Python, shaped by the command's declared Python face
//! (`maqet_core::registry::PythonFace`): the confirmation questions first, then the result as
//! its `PythonReturn` says (a dict, the id, a `VMInstance`, the CLI's text, ...).

use maqet_core::registry::{self, ApiMethod, Args, PythonReturn, WithoutTerminal};
use maqet_core::{Maqet as CoreMaqet, MaqetError};
use pyo3::prelude::*;
use serde_json::Value;

use crate::api::Started;
use crate::convert::to_python;
use crate::errors::Context;
use crate::instance::VMInstance;
use crate::worker::CallError;

/// A command's result, shaped for Python but still free of the GIL.
pub enum Shaped {
    /// JSON values.
    Json(Value),
    /// Text.
    Text(String),
    /// A VM.
    Vm(VMInstance),
    /// `True`.
    Done,
}

impl Shaped {
    /// The Python value.
    pub fn into_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self {
            Shaped::Json(value) => to_python(py, &value)?,
            Shaped::Text(text) => text.into_pyobject(py)?.into_any().unbind(),
            Shaped::Vm(vm) => Py::new(py, vm)?.into_any(),
            Shaped::Done => true.into_pyobject(py)?.to_owned().into_any().unbind(),
        })
    }
}

/// Runs `method` with `args` (on the call's own thread) and shapes its result. A started VM
/// is recorded here, so the `with` block stops it even when Ctrl-C interrupted the wait.
pub fn run(
    maqet: &CoreMaqet,
    method: &'static ApiMethod,
    args: Value,
    started: &Started,
) -> Result<Shaped, MaqetError> {
    let mut args = Args::new(&method.path(), args)?;
    let output = (method.invoke)(maqet, &mut args)?;
    let value = || output.value().into_owned();
    Ok(match method.python.returns {
        PythonReturn::Json
        | PythonReturn::Object
        | PythonReturn::Objects
        | PythonReturn::StatusReport => Shaped::Json(value()),
        PythonReturn::VmId => Shaped::Json(value().get("vm_id").cloned().unwrap_or(Value::Null)),
        PythonReturn::StartedVm => {
            let vm = VMInstance::from_value(&value());
            let mut list = started.lock().unwrap_or_else(|e| e.into_inner());
            list.push((std::process::id(), vm.id.clone()));
            Shaped::Vm(vm)
        }
        PythonReturn::StoppedVm => Shaped::Vm(VMInstance::stopped_from_value(&value())),
        PythonReturn::Vm => Shaped::Vm(VMInstance::from_value(&value())),
        PythonReturn::Done => Shaped::Done,
        PythonReturn::Text => Shaped::Text(output.human().unwrap_or_default().into_owned()),
        PythonReturn::Snapshot => match value() {
            // A listing: the snapshot names.
            Value::Array(items) => Shaped::Json(Value::Array(
                items
                    .into_iter()
                    .filter_map(|s| s.get("name").cloned())
                    .collect(),
            )),
            change => Shaped::Json(change),
        },
    })
}

/// Asks the questions of the flags set in `args` (`rm(all=True)`), by the rule the CLI uses,
/// with `input()` when `sys.stdin` is a terminal; without one the call is refused.
pub fn confirm(py: Python<'_>, method: &ApiMethod, args: &Value) -> PyResult<()> {
    let params = method
        .params
        .iter()
        .map(|p| (p.name, p.confirm, p.answers_yes));
    let questions = registry::pending_questions(params, args);
    if questions.is_empty() {
        return Ok(());
    }
    let sys = py.import("sys")?;
    let stdin = sys.getattr("stdin")?;
    let interactive = !stdin.is_none()
        && stdin
            .call_method0("isatty")
            .and_then(|v| v.extract::<bool>())
            .unwrap_or(false);
    let builtins = py.import("builtins")?;
    let mut ask = |prompt: &str| -> Result<String, CallError> {
        Ok(builtins.call_method1("input", (prompt,))?.extract()?)
    };
    let yes_flag = method.params.iter().find(|p| p.answers_yes).map_or_else(
        || "the answering flag".to_string(),
        |p| format!("{}=True", p.name),
    );
    let terminal: Option<registry::Ask<'_, CallError>> =
        if interactive { Some(&mut ask) } else { None };
    registry::confirm_flags(
        &method.path(),
        &questions,
        terminal,
        WithoutTerminal::Refuse,
        &yes_flag,
    )
    .map_err(|e| crate::api::fail(py, e, Context::Plain))
}
