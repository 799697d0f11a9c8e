//! The Python face of the command registry: every command as a method of `maqet.Maqet`.
//!
//! Generated from each command's declaration (its parameters and the `python_*` keys of
//! `#[api_method]`, see `maqet_core::registry::PythonFace`), never written by hand:
//! `python/maqet/_commands.py` (one method per command, each calling the native
//! `_invoke(path, arguments)`), the type stub `python/maqet/__init__.pyi`, and the method table of
//! docs/python.md. `cargo test -p maqet-cli --test python_face` fails when one of them is stale;
//! `MAQET_UPDATE_DOCS=1` rewrites them. Plugin commands are not methods (the Python package
//! does not load plugins); `Maqet.call` reaches every built-in command by name.
//!
//! A command whose `python_params` keep a reference signature can name a second, full method
//! (`python_full`): the same parameters, then the ones left out as keyword-only arguments, so
//! they are reachable without `call` and without changing the reference's signature.

mod docs;
mod methods;
mod stub;
mod types;

pub use docs::{methods_table, replace_methods_table};
pub use methods::commands_module;
pub use stub::stub;

use maqet_core::registry::{self, ApiMethod, ParamKind, ParamSpec, PythonReturn};

/// One method of the Python `Maqet` class.
#[derive(Debug)]
pub struct PyMethod {
    /// Its Python name.
    pub name: String,
    /// The command it runs (`qmp keys`).
    pub path: String,
    /// The command.
    pub method: &'static ApiMethod,
    /// Its parameters in order.
    pub params: Vec<PyParam>,
}

/// One parameter of a Python method.
#[derive(Debug)]
pub struct PyParam {
    /// Its Python name.
    pub name: String,
    /// The command parameter it fills.
    pub spec: &'static ParamSpec,
    /// How Python passes it.
    pub shape: Shape,
    /// Only by keyword (after a bare `*` or a `*name`).
    pub keyword_only: bool,
}

/// How a parameter is written in the Python signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// `name` (required) or `name=default` (a Python literal).
    Plain(Option<String>),
    /// `*name`: the remaining positional arguments, as a list.
    VarPositional,
    /// `**name`: the remaining keyword arguments, as an object.
    Spread,
}

/// Every visible built-in command as a Python method, in registry order.
pub fn methods() -> Result<Vec<PyMethod>, String> {
    let mut all = Vec::new();
    for command in registry::methods().into_iter().filter(|m| !m.hidden) {
        let method = method_of(command)?;
        let full = command
            .python
            .full_name
            .map(|name| full_method_of(&method, name))
            .transpose()?;
        all.push(method);
        all.extend(full);
    }
    let mut names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "two commands are the Python method `{}`: give one a `python_name`",
            pair[0]
        ));
    }
    if let Some(taken) = all.iter().find(|m| NATIVE_NAMES.contains(&m.name.as_str())) {
        return Err(format!(
            "the command `{}` would be the Python method `{}`, which the native class has already: give it a `python_name`",
            taken.path, taken.name
        ));
    }
    Ok(all)
}

/// Methods and attributes of the native class that commands may not shadow.
const NATIVE_NAMES: &[&str] = &[
    "call",
    "close",
    "data_dir",
    "config_dir",
    "runtime_dir",
    "_invoke",
    "_status_detailed",
];

fn is_spread(kind: ParamKind) -> bool {
    matches!(kind, ParamKind::KeyValues | ParamKind::ConfigKeys)
}

fn method_of(method: &'static ApiMethod) -> Result<PyMethod, String> {
    let path = method.path();
    let name = method.python_method_name();
    let find = |param: &str| {
        method
            .param(param)
            .ok_or_else(|| format!("`{path}`: python_params names `{param}`, no such parameter"))
    };
    let mut params = Vec::new();
    match method.python.params {
        Some(listed) => {
            for p in listed {
                let spec = find(p.param)?;
                let shape = if p.var_positional {
                    if spec.kind != ParamKind::List {
                        return Err(format!("`{path}`: `*{}` needs a list parameter", p.param));
                    }
                    Shape::VarPositional
                } else if is_spread(spec.kind) {
                    Shape::Spread
                } else {
                    Shape::Plain(default_of(spec))
                };
                params.push(PyParam {
                    name: p.python_name.to_string(),
                    spec,
                    shape,
                    keyword_only: false,
                });
            }
        }
        None => {
            let plain = |required: bool| {
                method
                    .params
                    .iter()
                    .filter(move |s| !is_spread(s.kind) && s.required == required)
            };
            for spec in plain(true)
                .chain(plain(false))
                .chain(method.params.iter().filter(|s| is_spread(s.kind)))
            {
                let shape = if is_spread(spec.kind) {
                    Shape::Spread
                } else {
                    Shape::Plain(default_of(spec))
                };
                params.push(PyParam {
                    name: spec.name.to_string(),
                    spec,
                    shape,
                    keyword_only: false,
                });
            }
        }
    }
    check_order(&path, &params)?;
    Ok(PyMethod {
        name,
        path,
        method,
        params,
    })
}

/// The `python_full` method `name` of `reference`'s command: `reference`'s parameters, then
/// every other parameter of the command, keyword-only (each must have a default).
fn full_method_of(reference: &PyMethod, name: &str) -> Result<PyMethod, String> {
    let path = &reference.path;
    let mut params: Vec<PyParam> = reference
        .params
        .iter()
        .map(|p| PyParam {
            name: p.name.clone(),
            spec: p.spec,
            shape: p.shape.clone(),
            keyword_only: false,
        })
        .collect();
    if params.iter().any(|p| p.shape == Shape::Spread) {
        return Err(format!(
            "`{path}`: python_full cannot add parameters after a `**` parameter"
        ));
    }
    for spec in reference.method.params {
        if params.iter().any(|p| std::ptr::eq(p.spec, spec)) {
            continue;
        }
        if spec.required || is_spread(spec.kind) {
            return Err(format!(
                "`{path}`: python_full needs `{}` in python_params (it is required or a key=value spread)",
                spec.name
            ));
        }
        if params.iter().any(|p| p.name == spec.name) {
            return Err(format!(
                "`{path}`: python_full would name two parameters `{}`",
                spec.name
            ));
        }
        params.push(PyParam {
            name: spec.name.to_string(),
            spec,
            shape: Shape::Plain(default_of(spec)),
            keyword_only: true,
        });
    }
    check_order(path, &params)?;
    Ok(PyMethod {
        name: name.to_string(),
        path: path.clone(),
        method: reference.method,
        params,
    })
}

/// Whether a bare `*` goes before `params[at]`: it is the first keyword-only parameter and no
/// `*name` came before it.
pub fn bare_star_before(params: &[PyParam], at: usize) -> bool {
    params[at].keyword_only
        && params[..at]
            .iter()
            .all(|p| !p.keyword_only && p.shape != Shape::VarPositional)
}

/// Python accepts `a, b=1, *rest, c=2, **kw` and no other order.
fn check_order(path: &str, params: &[PyParam]) -> Result<(), String> {
    let mut defaulted = false;
    let mut star = false;
    let mut spread = false;
    for p in params {
        if spread {
            return Err(format!(
                "`{path}`: `{}` comes after the `**` parameter",
                p.name
            ));
        }
        match &p.shape {
            Shape::Plain(None) if defaulted && !star && !p.keyword_only => {
                return Err(format!(
                    "`{path}`: required `{}` follows a parameter with a default",
                    p.name
                ));
            }
            Shape::Plain(Some(_)) => defaulted = true,
            Shape::Plain(None) => {}
            Shape::VarPositional if star => {
                return Err(format!("`{path}`: two `*` parameters"));
            }
            Shape::VarPositional => star = true,
            Shape::Spread => spread = true,
        }
    }
    Ok(())
}

/// The Python default of a parameter, as a literal; `None` when it is required.
fn default_of(spec: &ParamSpec) -> Option<String> {
    if spec.required {
        return None;
    }
    Some(match (spec.kind, spec.default) {
        (ParamKind::Bool, Some(d)) => {
            if matches!(d, "true" | "yes" | "on" | "1") {
                "True".into()
            } else {
                "False".into()
            }
        }
        (ParamKind::Bool, None) => "False".into(),
        (ParamKind::Int | ParamKind::Float | ParamKind::Duration, Some(d))
            if d.parse::<f64>().is_ok() && d.chars().all(|c| c.is_ascii_digit() || c == '.') =>
        {
            d.to_string()
        }
        (_, Some(d)) => types::string_literal(d),
        (_, None) => "None".into(),
    })
}

/// The Python return type of a method; an object result's `TypedDict`s are declared in `types`.
pub fn return_type_in(method: &PyMethod, types: &mut registry::PythonTypes) -> String {
    match (method.method.python.returns, method.method.python.result) {
        (PythonReturn::Object | PythonReturn::StatusReport, Some(result)) => result(types),
        (returns, _) => plain_return_type(returns).to_string(),
    }
}

/// The Python return type of a method (its `TypedDict`'s name for an object result).
pub fn return_type(method: &PyMethod) -> String {
    return_type_in(method, &mut registry::PythonTypes::default())
}

fn plain_return_type(returns: PythonReturn) -> &'static str {
    match returns {
        PythonReturn::Json => "JsonResult",
        PythonReturn::Object | PythonReturn::StatusReport => "Dict[str, Any]",
        PythonReturn::Objects => "List[Dict[str, Any]]",
        PythonReturn::VmId | PythonReturn::Text => "str",
        PythonReturn::StartedVm | PythonReturn::StoppedVm | PythonReturn::Vm => "VMInstance",
        PythonReturn::Done => "bool",
        PythonReturn::Snapshot => "Union[Dict[str, Any], List[str]]",
    }
}

/// The Python signature without types, as `inspect.signature` shows it (without `self`).
pub fn plain_signature(method: &PyMethod) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (at, p) in method.params.iter().enumerate() {
        if bare_star_before(&method.params, at) {
            parts.push("*".into());
        }
        parts.push(match &p.shape {
            Shape::Plain(None) => p.name.clone(),
            Shape::Plain(Some(d)) => format!("{}={d}", p.name),
            Shape::VarPositional => format!("*{}", p.name),
            Shape::Spread => format!("**{}", p.name),
        });
    }
    if method.method.python.returns == PythonReturn::StatusReport {
        // The reference's deprecated keyword, shaped in Python (see `methods.rs`).
        let at = parts
            .iter()
            .position(|p| p.starts_with("**"))
            .unwrap_or(parts.len());
        parts.insert(at, "detailed=False".into());
    }
    parts.join(", ")
}
