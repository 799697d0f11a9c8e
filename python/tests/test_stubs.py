"""The type stub is generated from the command registry and types every method precisely:
mypy --strict accepts a script calling every command that the reference does not name, with
no expression typed Any, and the stub types no parameter Any."""

import ast
import subprocess
import sys
from pathlib import Path

import maqet

HERE = Path(__file__).parent
STRICT = [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]


def _mypy(tmp_path: Path, source: str, *flags: str) -> "subprocess.CompletedProcess[str]":
    script = tmp_path / "script.py"
    script.write_text(source)
    return subprocess.run(
        [*STRICT, *flags, "--cache-dir", str(tmp_path / "cache"), str(script)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )


def _stub_methods() -> "dict[str, ast.FunctionDef]":
    stub = Path(maqet.__file__).with_name("__init__.pyi")
    tree = ast.parse(stub.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Maqet")
    return {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef)}


def test_every_other_command_type_checks_without_any(tmp_path: Path) -> None:
    result = _mypy(tmp_path, (HERE / "every_command.py").read_text(), "--disallow-any-expr")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_any_check_catches_a_fallback(tmp_path: Path) -> None:
    # What the stub had before it was generated: unknown methods typed Any through __getattr__.
    (tmp_path / "fallback.pyi").write_text(
        "from typing import Any\nclass M:\n    def __getattr__(self, name: str) -> Any: ...\n"
    )
    script = (
        "from typing import List\nfrom fallback import M\n\n\n"
        "def calls(m: M) -> List[object]:\n    return [m.clone('a', 'b')]\n"
    )
    result = _mypy(tmp_path, script, "--disallow-any-expr")
    assert result.returncode != 0 and "Any" in result.stdout, result.stdout + result.stderr


def test_stub_covers_every_command_with_no_parameter_typed_any() -> None:
    methods = _stub_methods()
    assert "__getattr__" not in methods
    for command in maqet._maqet.commands():
        assert command["python_name"] in methods, command["path"]
    for name, function in methods.items():
        args = function.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is None or arg.arg == "self":
                continue
            assert arg.annotation is not None, f"{name}({arg.arg}) has no type"
            names = {n.id for n in ast.walk(arg.annotation) if isinstance(n, ast.Name)}
            assert "Any" not in names, f"{name}({arg.arg}): {ast.unparse(arg.annotation)}"
    # The script calls every command method the reference examples do not.
    called = {n.func.attr for n in ast.walk(ast.parse((HERE / "every_command.py").read_text()))
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    reference = {n.func.attr for n in ast.walk(ast.parse((HERE / "reference_examples.py").read_text()))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    missing = {c["python_name"] for c in maqet._maqet.commands()} - called - reference
    assert not missing, f"every_command.py does not call {sorted(missing)}"
