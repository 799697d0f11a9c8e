//! `python/maqet/__init__.pyi`: the package's types, every command method typed from its
//! parameters' kinds.

use std::fmt::Write;

use maqet_core::registry::PythonReturn;

use super::{
    PyMethod, Shape, bare_star_before, methods::GENERATED, return_type, types::annotation,
};

const HEAD: &str = r#"import os
from types import TracebackType
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Type, Union

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
    let mut out = String::from(GENERATED);
    out.push_str(HEAD);
    for method in methods {
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
            "    def {}({}) -> {}: ...",
            method.name,
            params.join(", "),
            return_type(method)
        );
    }
    out
}
