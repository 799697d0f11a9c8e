"""pytest plugin for tests of whole machines: the ``maqet_vm`` fixture factory.

Installed with the package and registered through the ``pytest11`` entry point, so any test in
an environment where maqet is installed can ask for it::

    def test_login(maqet_vm):
        vm = maqet_vm("vm.yaml")              # added, started --ephemeral
        vm.wait(screen_text="login:", timeout=120)
        vm.type("root\\n")
        vm.wait(screen_text="Password:")
        assert "Welcome" in vm.screen_text()

Every VM the factory made is removed (stopped, its storage cleaned) after the test. When a test
fails, each of its VMs' screen at that moment is saved as a PNG next to the test's temporary
files, and the paths (with the screenshot a timed-out screen wait kept, if any) are attached to
the test report as a "maqet screens" section.
"""

import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import pytest

from maqet import Maqet

_HANDLES = pytest.StashKey[List["VMHandle"]]()
_KEPT_SCREEN = re.compile(r"the last screen is in (\S+\.png)")


class VMHandle:
    """A VM made by ``maqet_vm``: the screen, keyboard and guest commands of one machine."""

    def __init__(self, maqet: Maqet, name: str) -> None:
        self.maqet = maqet
        self.name = name
        #: The screenshot the last timed-out screen wait kept, if any.
        self.last_screenshot: Optional[Path] = None

    def wait(self, timeout: float = 60, **condition: Any) -> Dict[str, Any]:
        """``maqet wait``: one condition as a keyword (``screen_text="login:"``,
        ``screen_match="needle.json"``, ``screen_still=1.0``, ``screen_change=True``,
        ``serial="READY"``, ``agent=True`` ...), plus ``region``/``threshold``."""
        try:
            return self.maqet.call("wait", vm=self.name, timeout=timeout, **condition)
        except Exception as e:
            kept = _KEPT_SCREEN.search(str(e))
            if kept:
                self.last_screenshot = Path(kept.group(1))
            raise

    def type(self, text: str, delay: int = 0) -> None:
        """Types ``text`` on the VM's keyboard; ``delay`` ms between keys."""
        self.maqet.call("qmp type", vm=self.name, text=text, delay=delay)

    def keys(self, *keys: str) -> None:
        """Presses ``keys`` together (a chord), e.g. ``vm.keys("ctrl", "alt", "f2")``."""
        self.maqet.call("qmp keys", vm=self.name, keys=list(keys))

    def screen_text(self, region: Optional[str] = None) -> str:
        """The screen's text by OCR (``region`` is ``"X,Y,W,H"``)."""
        return str(self.maqet.call("screen text", vm=self.name, region=region)["text"])

    def find(self, needle: Union[str, Path], threshold: Optional[float] = None,
             region: Optional[str] = None) -> Dict[str, Any]:
        """Where a needle (PNG, or openQA .json) shows best, and whether well enough."""
        return dict(self.maqet.call("screen find", vm=self.name, needle=str(needle),
                                    threshold=threshold, region=region))

    def exec(self, *command: str, timeout: float = 60) -> Dict[str, Any]:
        """Runs a command in the guest through its agent; returns its exit code and output."""
        return dict(self.maqet.call("exec", vm=self.name, command=list(command), timeout=timeout))

    def screenshot(self, path: Union[str, Path]) -> Path:
        """Saves the screen as PNG at ``path``."""
        self.maqet.call("qmp screendump", vm=self.name, file=str(path), png=True)
        return Path(path)


@pytest.fixture
def maqet_vm(request: pytest.FixtureRequest,
             tmp_path: Path) -> Iterator[Callable[..., VMHandle]]:
    """A factory: ``maqet_vm(config, name=None)`` adds a VM from a config file (a path, or YAML
    text), starts it ``--ephemeral`` and returns its :class:`VMHandle`. The VMs are removed
    after the test."""
    made: List[VMHandle] = []
    request.node.stash[_HANDLES] = made
    state: Dict[str, Maqet] = {}

    def factory(config: Union[str, Path], name: Optional[str] = None) -> VMHandle:
        # Maqet() is made here, not earlier, so fixtures that set XDG dirs apply first.
        maqet = state.setdefault("maqet", Maqet())
        path = Path(config) if isinstance(config, Path) or "\n" not in str(config) else None
        if path is None:
            path = tmp_path / f"maqet-vm-{len(made)}.yaml"
            path.write_text(str(config))
        vm = maqet.add(config=str(path), name=name)
        handle = VMHandle(maqet, vm)
        made.append(handle)
        maqet.call("start", vm=vm, ephemeral=True)
        return handle

    yield factory
    for handle in made:
        try:
            handle.maqet.rm(handle.name, force=True, clean_storage=True)
        except Exception as e:  # noqa: BLE001 - every VM must get its chance to go
            print(f"maqet_vm: could not remove VM {handle.name}: {e}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    handles = item.stash.get(_HANDLES, None)
    if not handles or not report.failed or report.when != "call":
        return
    lines = []
    for handle in handles:
        target = Path(_screen_dir(item)) / f"{handle.name}-at-failure.png"
        try:
            shot = handle.screenshot(target)
            lines.append(f"{handle.name}: screen at failure: {shot}")
        except Exception as e:  # noqa: BLE001 - the report must not fail because of this
            lines.append(f"{handle.name}: no screen at failure ({e})")
        if handle.last_screenshot is not None:
            lines.append(f"{handle.name}: last screen of the timed-out wait: {handle.last_screenshot}")
    report.sections.append(("maqet screens", "\n".join(lines)))
    item.user_properties.append(("maqet_screens", lines))


def _screen_dir(item: pytest.Item) -> str:
    """The failed test's own temporary directory (pytest's ``tmp_path`` when it has one)."""
    funcargs = getattr(item, "funcargs", {})
    tmp = funcargs.get("tmp_path")
    if tmp is None:
        tmp = item.config._tmp_path_factory.mktemp("maqet-screens")  # type: ignore[attr-defined]
    return str(tmp)
