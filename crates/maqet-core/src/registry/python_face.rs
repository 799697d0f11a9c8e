//! How a command appears as a method of the Python `Maqet` class, declared on the command.
//!
//! `#[api_method(python_name = "qmp_key", python_params = ["vm as vm_id", "*keys", "hold_time"],
//! python_returns = "object")]` fills a [`PythonFace`]; the Python methods, their `.pyi` stub
//! and docs/python.md's table are generated from it (see `maqet_cli::python_face`), and the
//! native module shapes results by [`PythonReturn`]. A command without these keys gets the
//! derived name ([`ApiMethod::python_method_name`](super::ApiMethod::python_method_name)), every
//! parameter under its own name (required ones first) and its JSON result.
//!
//! `python_full = "type_text"` adds a second method for a command whose `python_params` keep
//! a reference signature: the same parameters, then every parameter left out, keyword-only
//! (`type_text(vm_id, text, hold_time=100, *, delay=0, record=None)`).

/// The Python side of one command.
#[derive(Debug, Clone, Copy)]
pub struct PythonFace {
    /// The method name; `None` derives it from the command's path.
    pub name: Option<&'static str>,
    /// The method's parameters in order, when the declaration lists them; parameters not listed
    /// are left out of the method (callers reach them through `Maqet.call`).
    pub params: Option<&'static [PythonParam]>,
    /// What the method returns.
    pub returns: PythonReturn,
    /// The name of a second method with every parameter: those of `params`, then the others
    /// keyword-only.
    pub full_name: Option<&'static str>,
    /// The Python type of an object result, from the Rust type the method returns
    /// ([`PythonType`](super::PythonType)); `None` for other results.
    pub result: Option<fn(&mut super::PythonTypes) -> String>,
}

impl PythonFace {
    /// A command with no Python keys.
    pub const DERIVED: PythonFace = PythonFace {
        name: None,
        params: None,
        returns: PythonReturn::Json,
        full_name: None,
        result: None,
    };
}

/// One parameter of a Python method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonParam {
    /// The command parameter (its JSON name).
    pub param: &'static str,
    /// Its name in Python.
    pub python_name: &'static str,
    /// Collects the remaining positional arguments (`*keys`); only for list parameters.
    pub var_positional: bool,
}

/// How the Python method hands back the command's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PythonReturn {
    /// The JSON result as Python values.
    Json,
    /// The JSON result, an object (a `dict`).
    Object,
    /// The JSON result, a list of objects.
    Objects,
    /// The `vm_id` field of the result (`add`).
    VmId,
    /// A `VMInstance` of the started VM, which the `Maqet` object then stops when it closes.
    StartedVm,
    /// A `VMInstance` of the stopped VM with how it stopped; the `Maqet` object forgets it.
    StoppedVm,
    /// A `VMInstance` of the VM in the result.
    Vm,
    /// `True` once the command succeeded.
    Done,
    /// The text the CLI prints on a terminal.
    Text,
    /// An object, with the deprecated `detailed=True` keyword of the reference's `status`.
    StatusReport,
    /// An object for a change; the snapshot names for a listing.
    Snapshot,
}
