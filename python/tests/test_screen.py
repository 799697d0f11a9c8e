"""The screen-automation must-show in Python (issue O): with the ``maqet_vm`` fixture of the
installed ``maqet.testing`` plugin, log in on the test guest's VGA console, run a command and
read its output from the screen, waiting only with maqet's waits (no sleep). TCG, real
Tesseract."""

from pathlib import Path
from typing import Callable, Dict

import pytest

from conftest import GUEST_APPEND, guest_yaml

LOGIN_APPEND = GUEST_APPEND + " maqet.tty1=login vt.global_cursor_default=0"


def login_guest_yaml(guest: Dict[str, str]) -> str:
    return guest_yaml(guest, disk=False).replace(GUEST_APPEND, LOGIN_APPEND) + "vga: std\n"


def test_the_plugin_is_registered(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("maqet"), "maqet.testing is not a pytest11 plugin"


def test_log_in_run_a_command_and_read_it_from_the_screen(
    home: Path, guest: Dict[str, str], maqet_vm: Callable
) -> None:
    vm = maqet_vm(login_guest_yaml(guest), name="pyscreen")
    prompt = vm.wait(screen_text="login:", timeout=180)
    assert prompt["matched"]["text"].endswith("login:")
    vm.type("root\n")
    vm.wait(screen_text="Password")
    vm.type("maqet\n")
    vm.wait(screen_text="Welcome")
    vm.type("echo PY-$((6*7))-DONE\n")
    found = vm.wait(screen_text="PY-42-DONE")
    assert found["condition"] == "screen-text"
    assert "PY-42-DONE" in vm.screen_text()

    # type_text: qmp type with its pause between keys and its step pictures, as keywords.
    steps = home / "steps"
    vm.maqet.type_text(vm.name, "echo PY-SLOW-$((2+3))\n", delay=30, record=str(steps))
    vm.wait(screen_text="PY-SLOW-5")
    assert [p.name for p in steps.iterdir()] == ["0001-type.png"]


def test_type_text_reaches_every_parameter_and_qmp_type_keeps_the_reference() -> None:
    import inspect

    from maqet import Maqet

    assert str(inspect.signature(Maqet.qmp_type)) == "(self, vm_id, text, hold_time=100)"
    assert str(inspect.signature(Maqet.type_text)) == (
        "(self, vm_id, text, hold_time=100, *, delay=0, record=None)"
    )
    assert str(inspect.signature(Maqet.press_keys)) == (
        "(self, vm_id, *keys, hold_time=100, record=None)"
    )
    with pytest.raises(TypeError):
        Maqet.type_text(None, "vm", "text", 100, 20)  # type: ignore[misc]


def test_a_timed_out_wait_names_the_kept_screenshot(
    home: Path, guest: Dict[str, str], maqet_vm: Callable
) -> None:
    from maqet import MaqetError

    vm = maqet_vm(login_guest_yaml(guest), name="pytimeout")
    vm.wait(screen_text="login:", timeout=180)
    with pytest.raises(MaqetError) as failed:
        vm.wait(screen_text="NEVER-ON-SCREEN", timeout=2)
    assert vm.last_screenshot is not None, str(failed.value)
    assert vm.last_screenshot.read_bytes()[1:4] == b"PNG"
