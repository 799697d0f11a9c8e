//! `python/maqet/__init__.pyi`: the package's types, every command method typed from its
//! parameters' kinds.

use std::fmt::Write;

use maqet_core::registry::{PythonReturn, PythonTypes, TypedDictClass};

use super::{
    PyMethod, Shape, bare_star_before, methods::GENERATED, return_type_in, types::annotation,
};

const HEAD: &str = r#"import os
from types import TracebackType
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Type, TypedDict, Union

from maqet.exceptions import (
    ConfigError as ConfigError,
    MaqetError as MaqetError,
    QMPError as QMPError,
    RunnerError as RunnerError,
    SnapshotError as SnapshotError,
    StateManagerError as StateManagerError,
    StorageError as StorageError,
    TimeoutError as TimeoutError,
    VMAlreadyRunningError as VMAlreadyRunningError,
    VMNotFoundError as VMNotFoundError,
)

__version__: str

_Path = Union[str, "os.PathLike[str]"]
# A value maqet takes as JSON (config keys, QMP arguments, device properties).
JsonArg = Union[None, bool, int, float, str, "os.PathLike[str]", Sequence["JsonArg"], Mapping[str, "JsonArg"]]
# A command's JSON result, as Python values.
JsonResult = Union[None, bool, int, float, str, List["JsonResult"], Dict[str, "JsonResult"]]
"#;

const CLASSES: &str = r#"
class VMInstance:
    @property
    def id(self) -> str: ...
    @property
    def vm_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def pid(self) -> Optional[int]: ...
    @property
    def runner_pid(self) -> Optional[int]: ...
    @property
    def socket_path(self) -> Optional[str]: ...
    @property
    def config_path(self) -> Optional[str]: ...
    @property
    def created_at(self) -> str: ...
    @property
    def updated_at(self) -> str: ...
    @property
    def stop_method(self) -> Optional[str]: ...
    @property
    def forced(self) -> Optional[bool]: ...
    @property
    def is_running(self) -> bool: ...

class Maqet:
    def __init__(
        self,
        data_dir: Optional[_Path] = None,
        config_dir: Optional[_Path] = None,
        runtime_dir: Optional[_Path] = None,
    ) -> None: ...
    @property
    def data_dir(self) -> str: ...
    @property
    def config_dir(self) -> str: ...
    @property
    def runtime_dir(self) -> str: ...
    def __enter__(self) -> "Maqet": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...
    def close(self) -> None: ...
    def call(self, command: str, **kwargs: JsonArg) -> JsonResult: ...
"#;

/// The stub's text.
pub fn stub(methods: &[PyMethod]) -> String {
    let mut types = PythonTypes::default();
    let returns: Vec<String> = methods
        .iter()
        .map(|m| return_type_in(m, &mut types))
        .collect();
    let mut out = String::from(GENERATED);
    out.push_str(HEAD);
    for class in types.classes() {
        typed_dict(&mut out, class);
    }
    out.push_str(CLASSES);
    for (method, returns) in methods.iter().zip(returns) {
        let mut params = vec!["self".to_string()];
        for (at, p) in method.params.iter().enumerate() {
            if bare_star_before(&method.params, at) {
                params.push("*".into());
            }
            let ann = annotation(p);
            params.push(match &p.shape {
                Shape::Plain(None) => format!("{}: {ann}", p.name),
                Shape::Plain(Some(d)) => format!("{}: {ann} = {d}", p.name),
                Shape::VarPositional => format!("*{}: {ann}", p.name),
                Shape::Spread => format!("**{}: {ann}", p.name),
            });
        }
        if method.method.python.returns == PythonReturn::StatusReport {
            let at = params
                .iter()
                .position(|p| p.starts_with("**"))
                .unwrap_or(params.len());
            params.insert(at, "detailed: bool = False".into());
        }
        let _ = writeln!(
            out,
            "    def {}({}) -> {returns}: ...",
            method.name,
            params.join(", "),
        );
    }
    out
}

/// A command result's keys as a `TypedDict` (keys that may be absent in a `total=False`
/// subclass, as Python 3.9 has no `NotRequired`).
fn typed_dict(out: &mut String, class: &TypedDictClass) {
    let (optional, required): (Vec<_>, Vec<_>) = class.keys.iter().partition(|k| k.optional);
    let bases = if class.bases.is_empty() {
        "TypedDict".to_string()
    } else {
        class.bases.join(", ")
    };
    let _ = writeln!(out);
    let write_keys = |out: &mut String, keys: &[&maqet_core::registry::PythonKey]| {
        for key in keys {
            // An absent key is how `None` shows: the key's type is what is there.
            let ty = match &key.ty {
                t if key.optional && t.starts_with("Optional[") && t.ends_with(']') => {
                    t["Optional[".len()..t.len() - 1].to_string()
                }
                t => t.clone(),
            };
            let _ = writeln!(out, "    {}: {ty}", key.name);
        }
        if keys.is_empty() {
            let _ = writeln!(out, "    pass");
        }
    };
    let doc = |out: &mut String| {
        if !class.doc.is_empty() {
            let _ = writeln!(out, "    # {}", class.doc);
        }
    };
    match (required.is_empty(), optional.is_empty()) {
        (_, true) => {
            let _ = writeln!(out, "class {}({bases}):", class.name);
            doc(out);
            write_keys(out, &required);
        }
        (true, false) => {
            let _ = writeln!(out, "class {}({bases}, total=False):", class.name);
            doc(out);
            write_keys(out, &optional);
        }
        (false, false) => {
            let _ = writeln!(out, "class _{}Keys({bases}):", class.name);
            write_keys(out, &required);
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "class {}(_{}Keys, total=False):",
                class.name, class.name
            );
            doc(out);
            write_keys(out, &optional);
        }
    }
}
