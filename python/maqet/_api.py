"""Glue between the native class and Python: help texts from maqet's command registry, and one
method per registry command the reference does not name (``clone``, ``storage_info``, ``wait``...).

Behaviour lives in the native module; this file only builds docstrings and signatures.
"""

import functools
import inspect
from typing import Any, Callable, Dict, List

from maqet import _maqet

# Reference methods and the registry command each one runs.
REFERENCE_COMMANDS: Dict[str, str] = {
    "add": "add",
    "start": "start",
    "stop": "stop",
    "rm": "rm",
    "ls": "ls",
    "status": "status",
    "info": "info",
    "inspect": "inspect",
    "apply": "apply",
    "qmp": "qmp",
    "qmp_key": "qmp keys",
    "qmp_type": "qmp type",
    "screendump": "qmp screendump",
    "qmp_stop": "qmp pause",
    "qmp_cont": "qmp resume",
    "device_add": "qmp device-add",
    "device_del": "qmp device-del",
    "snapshot": "snapshot",
}

_SPREAD_KINDS = ("key-values", "config-keys")


def docstring(command: Dict[str, Any]) -> str:
    """The registry's description and examples, as a docstring."""
    text = command["long_about"] or command["about"]
    lines = [text.strip(), ""]
    params = [p for p in command["params"] if p["help"]]
    if params:
        lines.append("Parameters (CLI names):")
        for p in params:
            lines.append(f"    {p['name']}: {p['help']}")
        lines.append("")
    if command["examples"]:
        lines.append("Examples (the same command from the shell):")
        lines.extend(f"    $ {e}" for e in command["examples"])
    return "\n".join(lines).rstrip() + "\n"


def python_name(path: str) -> str:
    return path.replace(" ", "_").replace("-", "_")


def _signature(command: Dict[str, Any]) -> inspect.Signature:
    params: List[inspect.Parameter] = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    spread = None
    optional = []
    for p in command["params"]:
        if p["kind"] in _SPREAD_KINDS:
            spread = p["name"]
            continue
        if p["required"] and p["default"] is None:
            params.append(inspect.Parameter(p["name"], inspect.Parameter.POSITIONAL_OR_KEYWORD))
        else:
            default: Any = None
            if p["kind"] == "bool":
                default = False
            elif p["default"] is not None:
                default = p["default"]
                if p["kind"] in ("int", "float"):
                    try:
                        default = int(default) if p["kind"] == "int" else float(default)
                    except ValueError:
                        pass
            optional.append(inspect.Parameter(p["name"], inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default))
    params.extend(optional)
    if spread:
        params.append(inspect.Parameter(spread, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def _generated(command: Dict[str, Any]) -> Callable[..., Any]:
    path = command["path"]
    sig = _signature(command)
    spread = next((p["name"] for p in command["params"] if p["kind"] in _SPREAD_KINDS), None)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(self, *args, **kwargs)
        arguments = {k: v for k, v in bound.arguments.items() if k != "self"}
        if spread and spread in arguments:
            arguments[spread] = dict(arguments[spread])
        return self.call(path, **arguments)

    method.__name__ = python_name(path)
    method.__qualname__ = "Maqet." + method.__name__
    method.__doc__ = docstring(command)
    method.__signature__ = sig  # type: ignore[attr-defined]
    return method


def _documented(native: Any, command: Dict[str, Any]) -> Callable[..., Any]:
    @functools.wraps(native)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return native(self, *args, **kwargs)

    method.__doc__ = docstring(command)
    return method


def install(cls: type) -> None:
    """Adds registry docstrings to the reference methods and methods for the other commands."""
    registry = {c["path"]: c for c in _maqet.commands()}
    for name, path in REFERENCE_COMMANDS.items():
        if path in registry:
            setattr(cls, name, _documented(getattr(_maqet.Maqet, name), registry[path]))
    taken = set(REFERENCE_COMMANDS.values())
    for path, command in registry.items():
        name = python_name(path)
        if path in taken or hasattr(cls, name):
            continue
        setattr(cls, name, _generated(command))
