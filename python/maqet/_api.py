"""Glue between the native class and Python: help texts from maqet's command registry, and one
method per registry command the reference does not name (``clone``, ``storage_info``, ``wait``...).

Behaviour lives in the native module; this file only builds docstrings and signatures.
"""

from __future__ import annotations

from maqet import _maqet

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs milliseconds at import time; only type checkers need it
    from typing import Any, Callable, Dict, List, Optional, Tuple

# Reference methods and the registry command each one runs.
REFERENCE_COMMANDS: "Dict[str, str]" = {
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


def _define(name: str, params: List[Tuple[str, Optional[str]]], body: str) -> str:
    """The source of a function with a real Python signature (so `inspect.signature` shows it
    without this module importing `inspect`). params: (source text, how to pass it on)."""
    args = ", ".join(a for _, a in params if a)
    return f"def {name}({', '.join(p for p, _ in params)}):\n    return {body.format(args=args)}\n"


def _text_params(text_signature: str) -> List[Tuple[str, Optional[str]]]:
    """`($self, vm_id, *keys, hold_time=100)` -> [("self", "self"), ("vm_id", "vm_id"), ...]."""
    params = []
    for raw in text_signature.strip()[1:-1].split(","):
        p = raw.strip().replace("$self", "self")
        if not p or p == "/":
            continue
        if p.startswith("**") or p.startswith("*"):
            params.append((p, p))
        elif "=" in p:
            n = p.split("=", 1)[0].strip()
            params.append((p, f"{n}={n}"))
        else:
            params.append((p, p))
    return params


def _generated(command: Dict[str, Any]) -> str:
    path = command["path"]
    required: List[Tuple[str, Optional[str]]] = []
    optional: List[Tuple[str, Optional[str]]] = []
    spread = None
    for p in command["params"]:
        n = p["name"]
        if p["kind"] in _SPREAD_KINDS:
            spread = n
        elif p["required"] and p["default"] is None:
            required.append((n, f"{n}={n}"))
        else:
            default: Any = None
            if p["kind"] == "bool":
                default = False
            elif p["default"] is not None:
                default = p["default"]
                try:
                    default = int(default) if p["kind"] == "int" else float(default) if p["kind"] in ("float", "duration") else default
                except ValueError:
                    pass
            optional.append((f"{n}={default!r}", f"{n}={n}"))
    params: List[Tuple[str, Optional[str]]] = [("self", None), *required, *optional]
    if spread:
        params.append((f"**{spread}", f"{spread}={spread}"))
    return _define(python_name(path), params, f"self.call({path!r}, {{args}})")


def _documented(name: str, native: Any) -> str:
    params = _text_params(native.__text_signature__)
    return _define(name, params, f"_native.{name}({{args}})")


def install(cls: type) -> None:
    """Adds registry docstrings to the reference methods and methods for the other commands,
    compiled in one go to keep `import maqet` fast."""
    registry = {c["path"]: c for c in _maqet.commands()}
    sources = []
    docs = {}
    for name, path in REFERENCE_COMMANDS.items():
        if path in registry:
            sources.append(_documented(name, getattr(_maqet.Maqet, name)))
            docs[name] = docstring(registry[path])
    taken = set(REFERENCE_COMMANDS.values())
    for path, command in registry.items():
        name = python_name(path)
        if path in taken or name in docs or hasattr(cls, name):
            continue
        sources.append(_generated(command))
        docs[name] = docstring(command)
    namespace: Dict[str, Any] = {"_native": _maqet.Maqet}
    exec(compile("".join(sources), "<maqet methods>", "exec"), namespace)
    for name, doc in docs.items():
        method = namespace[name]
        method.__qualname__ = "Maqet." + name
        method.__module__ = "maqet"
        method.__doc__ = doc
        setattr(cls, name, method)
