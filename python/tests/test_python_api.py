"""Signatures, exceptions, docs, threads, signals, fork, the CLI and the stubs."""

import inspect
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import maqet
from maqet import Maqet

REFERENCE_SIGNATURES = {
    "add": "(self, config=None, name=None, empty=False, force=False, **kwargs)",
    "start": "(self, vm_id)",
    "stop": "(self, vm_id, force=False, timeout=30, save=False)",
    "rm": "(self, vm_id=None, force=False, all=False, clean_storage=False)",
    "ls": "(self, status=None)",
    "status": "(self, vm_id, detailed=False)",
    "info": "(self, vm_id)",
    "inspect": "(self, vm_id)",
    "apply": "(self, vm_id, config=None, force=False, **kwargs)",
    "qmp": "(self, vm_id, command, **kwargs)",
    "qmp_key": "(self, vm_id, *keys, hold_time=100)",
    "qmp_type": "(self, vm_id, text, hold_time=100)",
    "screendump": "(self, vm_id, filename)",
    "qmp_stop": "(self, vm_id)",
    "qmp_cont": "(self, vm_id)",
    "device_add": "(self, vm_id, driver, device_id, **kwargs)",
    "device_del": "(self, vm_id, device_id)",
    "snapshot": "(self, vm_id, action, drive, name=None, overwrite=False)",
}


@pytest.mark.parametrize("name", sorted(REFERENCE_SIGNATURES))
def test_signature_matches_the_reference(name: str) -> None:
    assert str(inspect.signature(getattr(Maqet, name))) == REFERENCE_SIGNATURES[name]


def test_constructor_signature() -> None:
    assert str(inspect.signature(Maqet)) == "(data_dir=None, config_dir=None, runtime_dir=None)"


def test_exception_classes() -> None:
    from maqet import exceptions
    from maqet.exceptions import ConfigError  # noqa: F401

    for name in ("StateManagerError", "ConfigError", "SnapshotError", "StorageError",
                 "VMNotFoundError", "VMAlreadyRunningError", "QMPError", "RunnerError", "TimeoutError"):
        assert issubclass(getattr(exceptions, name), exceptions.MaqetError), name
    assert maqet.MaqetError is exceptions.MaqetError
    assert issubclass(exceptions.TimeoutError, TimeoutError)


def test_misspelled_key_is_a_config_error_suggesting_the_key(home: Path) -> None:
    from maqet.exceptions import ConfigError

    m = Maqet()
    with pytest.raises(ConfigError, match="memory") as err:
        m.add(config="config.yaml", name="typo", memroy="4G")
    assert err.value.exit_code == 3
    (home / "typo.yaml").write_text((home / "config.yaml").read_text() + "memroy: 4G\n")
    with pytest.raises(ConfigError) as err:
        m.add(config="typo.yaml", name="typo")
    text = str(err.value)
    assert "typo.yaml:" in text and "memory" in text, text
    assert "typo" not in m.ls()


def test_errors_map_to_their_classes(home: Path) -> None:
    from maqet import exceptions as ex

    m = Maqet()
    with pytest.raises(ex.VMNotFoundError, match="maqet ls"):
        m.status("ghost")
    m.add(config="config.yaml", name="web")
    with pytest.raises(ex.MaqetError, match="not running"):
        m.qmp("web", "query-status")
    m.start("web")
    with pytest.raises(ex.VMAlreadyRunningError):
        m.start("web")
    with pytest.raises(ex.QMPError, match="CommandNotFound|not found"):
        m.qmp("web", "no-such-command")
    with pytest.raises(ex.MaqetError, match="allow"):
        m.qmp("web", "quit")
    with pytest.raises(TypeError):
        m.add(name="bad", memory=object())
    with pytest.raises(TypeError):
        m.start()  # type: ignore[call-arg]
    with pytest.raises(ex.SnapshotError):
        m.snapshot("web", "create", "nodrive", "x")
    assert "bad" not in m.ls()


def test_help_shows_the_registry_description_and_examples() -> None:
    doc = Maqet.start.__doc__ or ""
    assert "Start a VM and wait until QEMU answers on QMP" in doc
    assert "maqet start web" in doc
    assert "ACPI power-down" in (Maqet.stop.__doc__ or "")


def test_every_other_command_is_reachable(home: Path) -> None:
    for command in maqet._maqet.commands():
        method = getattr(Maqet, command["python_name"])
        assert (method.__doc__ or "").startswith(command["long_about"].strip()[:30]), command["path"]
    assert str(inspect.signature(Maqet.clone)) == "(self, src, new, linked=False)"
    m = Maqet()
    m.add(config="config.yaml", name="src")
    cloned = m.clone("src", "copy")
    assert isinstance(cloned, dict) and "copy" in m.ls()
    assert sorted(row["name"] for row in m.call("ls")) == ["copy", "src"]
    assert isinstance(m.doctor(), dict)
    assert m.call("storage-info", vm="src") is not None
    assert m.storage_verify is not None and m.config_validate is not None


def test_start_releases_the_gil(home: Path) -> None:
    m = Maqet()
    m.add(config="config.yaml", name="web")
    ticks = []
    done = threading.Event()

    def tick() -> None:
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.005)

    t = threading.Thread(target=tick)
    t.start()
    before = len(ticks)
    m.start("web")
    during = len(ticks) - before
    done.set()
    t.join()
    assert during > 5, f"the other thread ran {during} times while start() waited"


def test_one_maqet_from_several_threads(home: Path) -> None:
    m = Maqet()
    for i in range(4):
        m.add(config="config.yaml", name=f"t{i}")
    errors = []

    def work(i: int) -> None:
        try:
            for _ in range(20):
                assert m.status(f"t{i}")["name"] == f"t{i}"
                m.ls()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _script(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


def test_ctrl_c_interrupts_wait(home: Path) -> None:
    Maqet().add(config="config.yaml", name="web")
    code = (
        "import sys, time\n"
        "from maqet import Maqet\n"
        "m = Maqet()\n"
        "m.start('web')\n"
        "print('waiting', flush=True)\n"
        "t = time.monotonic()\n"
        "try:\n"
        "    m.wait('web', serial='never-printed-by-the-guest', timeout=100)\n"
        "except KeyboardInterrupt:\n"
        "    print(f'interrupted after {time.monotonic() - t:.2f}', flush=True)\n"
        "    m.stop('web', force=True)\n"
        "    sys.exit(0)\n"
        "sys.exit(3)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "waiting"
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"{out}\n{err}"
    assert out.startswith("interrupted after"), out
    assert Maqet().status("web")["status"] == "stopped"


def test_fork_after_use_does_not_deadlock(home: Path) -> None:
    Maqet().add(config="config.yaml", name="web")
    code = (
        "import os, sys\n"
        "from maqet import Maqet\n"
        "m = Maqet()\n"
        "assert 'web' in m.ls()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    ok = m.status('web')['name'] == 'web' and 'web' in Maqet().ls()\n"
        "    os._exit(0 if ok else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    result = _script(code, timeout=60)
    assert result.returncode == 0, result.stderr


def test_cli_console_script_starts_vms_with_the_bundled_runner(home: Path) -> None:
    cli = Path(sys.executable).parent / "maqet"
    run = lambda *args: subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=120)
    assert run("add", "config.yaml", "--name", "clivm").returncode == 0
    started = run("start", "clivm")
    assert started.returncode == 0, started.stderr
    assert Maqet().status("clivm")["status"] == "running"
    assert run("stop", "clivm", "--force").returncode == 0


def test_cli_console_script_has_the_shipped_plugins_without_copying_them(home: Path) -> None:
    cli = Path(sys.executable).parent / "maqet"
    env = {k: v for k, v in os.environ.items() if k != "MAQET_SHIPPED_PLUGINS"}
    listed = subprocess.run([str(cli), "plugin", "list", "--format", "json"], capture_output=True,
                            text=True, timeout=60, env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {Path(r["file"]).name: r for r in json.loads(listed.stdout)}
    for lib in ("libmaqet_cloud_init.so", "libmaqet_export.so", "libmaqet_libvirt.so"):
        assert rows.get(lib, {}).get("status") == "loaded", rows
    deploy = subprocess.run([str(cli), "deploy", "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert deploy.returncode == 0 and "--connect" in deploy.stdout, deploy.stderr


def test_import_has_no_side_effects_and_version(home: Path) -> None:
    result = _script("import maqet, sys; print(maqet.__version__); sys.exit(0)")
    assert result.returncode == 0 and result.stdout.strip(), result.stderr


def test_stubs_type_check_the_reference_examples(tmp_path: Path) -> None:
    here = Path(__file__).parent
    example = tmp_path / "examples.py"
    example.write_text((here / "reference_examples.py").read_text())
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
         str(example)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
