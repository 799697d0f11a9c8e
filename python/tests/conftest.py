"""Shared fixtures: the test guest, and a private maqet home per test.

The package under test is the one installed into the venv by scripts/python-tests.sh (`pip install
.`); these tests never import maqet from the source tree. Every VM boots the Rust tests' guest
(tests/guest/build-guest.sh) under TCG.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
GUEST_APPEND = "console=ttyS0 console=tty0 panic=-1 quiet"


@pytest.fixture(scope="session", autouse=True)
def installed_package() -> None:
    import maqet

    location = Path(maqet.__file__).resolve()
    assert REPO / "python" not in location.parents, (
        f"maqet was imported from the source tree ({location}); run the tests through "
        "scripts/python-tests.sh so they use the installed package"
    )


@pytest.fixture(scope="session")
def guest() -> Dict[str, str]:
    result = subprocess.run(
        ["bash", str(REPO / "tests/guest/build-guest.sh")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"building the test guest failed:\n{result.stdout}\n{result.stderr}"
    found = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert "KERNEL" in found and "INITRD" in found, result.stdout
    return {"kernel": found["KERNEL"], "initrd": found["INITRD"]}


def guest_yaml(guest: Dict[str, str], extra: str = "", disk: bool = True) -> str:
    """A VM config booting the test guest (TCG), with a small qcow2 `hdd` unless disk=False;
    `extra` lines continue the `arguments` list."""
    text = (
        "binary: qemu-system-x86_64\n"
        "memory: 256M\n"
        "cpu: 1\n"
        "accel: tcg\n"
        "display: none\n"
    )
    if disk:
        text += "storage:\n  - {name: hdd, type: qcow2, size: 64M}\n"
    text += (
        "arguments:\n"
        f"  - kernel: {json.dumps(guest['kernel'])}\n"
        f"  - initrd: {json.dumps(guest['initrd'])}\n"
        f"  - append: {json.dumps(GUEST_APPEND)}\n"
        "  - no-reboot: null\n"
    )
    return text + extra


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, guest: Dict[str, str]) -> Iterator[Path]:
    """XDG dirs of a fresh maqet home, and a working directory holding the reference's config
    files (config.yaml, vm.yaml, base.yaml, ...), so `Maqet()` and relative paths work unchanged."""
    # UNIX socket paths are short: keep the runtime dir near the root.
    runtime = Path(tempfile.mkdtemp(prefix="mq", dir="/tmp"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    for var in ("MAQET_CONFIG", "MAQET_RUNNER", "MAQET_LOG"):
        monkeypatch.delenv(var, raising=False)
    # Nothing of maqet on PATH: the package must find its own runner.
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    work = tmp_path / "work"
    work.mkdir()
    base = guest_yaml(guest)
    files = {
        "config.yaml": base,
        "vm.yaml": base,
        "base.yaml": base,
        "test.yaml": base,
        "custom.yaml": "memory: 512M\n",
        "updated.yaml": "memory: 384M\n",
        "prod.yaml": "cpu: 2\n",
        "environment/production.yaml": "memory: 1G\n",
        "overrides.yaml": "cpu: 2\n",
    }
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    monkeypatch.chdir(work)
    yield work
    stop_everything(runtime)
    shutil.rmtree(runtime, ignore_errors=True)


def stop_everything(runtime: Path) -> None:
    """Removes every VM of the test's home (stopping it); kills leftovers by their runtime dir."""
    from maqet import Maqet

    try:
        Maqet().rm(all=True, force=True, clean_storage=True)
    except Exception as e:  # noqa: BLE001 - cleanup must go on
        print(f"cleanup: rm(all=True, force=True) failed: {e}", file=sys.stderr)
    out = subprocess.run(["pgrep", "-f", str(runtime)], capture_output=True, text=True).stdout
    for pid in out.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
