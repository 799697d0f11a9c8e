"""The reference's QMP Commands examples on a running test guest."""

import os
import time
from pathlib import Path

import pytest

from maqet import Maqet
from conftest import guest_yaml

HOTPLUG = (
    "  - device: qemu-xhci,id=xhci\n"
    "  - drive: if=none,id=usb-drive,format=raw,file=usb.img\n"
    "  - netdev: user,id=user1\n"
)


@pytest.fixture
def running(home: Path) -> Maqet:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="myvm")
    maqet.start("myvm")
    return maqet


def test_qmp_examples(running: Maqet, capsys: pytest.CaptureFixture[str]) -> None:
    maqet = running
    # Query VM status
    result = maqet.qmp("myvm", "query-status")
    print(result)  # {'status': 'running', 'running': True}
    assert result == {"status": "running", "running": True} or result == {
        "status": "running", "running": True, "singlestep": False}

    # Query block devices
    result = maqet.qmp("myvm", "query-block")
    assert any(dev.get("qdev") or dev.get("device") for dev in result)

    # Arguments as keyword arguments
    assert maqet.qmp("myvm", "query-command-line-options", option="drive")[0]["option"] == "drive"

    # Power down VM
    result = maqet.qmp("myvm", "system_powerdown")
    assert result == {}
    assert "'status': 'running'" in capsys.readouterr().out


def test_qmp_key_examples(running: Maqet) -> None:
    maqet = running
    # Switch to TTY2
    assert maqet.qmp_key("myvm", "ctrl", "alt", "f2") == {}
    # Send Ctrl+C
    assert maqet.qmp_key("myvm", "ctrl", "c") == {}
    # Custom hold time
    assert maqet.qmp_key("myvm", "ctrl", "alt", "delete", hold_time=200) == {}
    # Function keys
    maqet.qmp_key("myvm", "f1")
    maqet.qmp_key("myvm", "shift", "f10")


def test_qmp_type_examples(running: Maqet) -> None:
    maqet = running
    # Type username and password
    results = maqet.qmp_type("myvm", "root")
    assert results == [{}, {}, {}, {}]  # one result per key event
    maqet.qmp_key("myvm", "ret")
    maqet.qmp_type("myvm", "mypassword")
    maqet.qmp_key("myvm", "ret")

    # Type command
    assert len(maqet.qmp_type("myvm", "ls -la /home")) == len("ls -la /home")
    maqet.qmp_key("myvm", "ret")

    # Slower typing for compatibility
    maqet.qmp_type("myvm", "sensitive-command", hold_time=150)


def test_screendump_examples(running: Maqet, home: Path) -> None:
    maqet = running
    # Take screenshot
    result = maqet.screendump("myvm", "screenshot.ppm")
    assert result["file"] == str(home / "screenshot.ppm") and result["format"] == "ppm"
    assert (home / "screenshot.ppm").read_bytes()[:2] == b"P6"

    # Sequential screenshots
    import time
    for i in range(5):
        maqet.screendump("myvm", f"screen_{i:03d}.ppm")
        time.sleep(0.2)
    assert all((home / f"screen_{i:03d}.ppm").is_file() for i in range(5))

    # Convert to PNG using PIL
    from PIL import Image
    maqet.screendump("myvm", "temp.ppm")
    img = Image.open("temp.ppm")
    img.save("screenshot.png")
    assert Image.open(home / "screenshot.png").size == img.size


def test_qmp_stop_cont_examples(running: Maqet) -> None:
    maqet = running
    # Pause VM execution
    assert maqet.qmp_stop("myvm") == {}
    assert maqet.status("myvm")["status"] == "paused" or maqet.qmp("myvm", "query-status")["status"] == "paused"
    # Resume VM execution
    assert maqet.qmp_cont("myvm") == {}
    assert maqet.qmp("myvm", "query-status")["running"] is True


def test_pause_take_snapshot_resume(running: Maqet) -> None:
    maqet = running
    # Pause, take snapshot, resume
    maqet.qmp_stop("myvm")
    result = maqet.snapshot("myvm", "create", "hdd", "paused-state")
    maqet.qmp_cont("myvm")
    assert result["status"] == "success" and result["snapshot"] == "paused-state"
    assert maqet.snapshot("myvm", "list", "hdd") == ["paused-state"]
    assert maqet.qmp("myvm", "query-status")["running"] is True


def test_device_add_del_examples(home: Path, guest: dict) -> None:
    (home / "hotplug.yaml").write_text(guest_yaml(guest, HOTPLUG.replace("usb.img", str(home / "usb.img"))))
    with open(home / "usb.img", "wb") as f:
        f.truncate(4 << 20)
    maqet = Maqet()
    maqet.add(config="hotplug.yaml", name="myvm")
    maqet.start("myvm")
    # Add USB storage device
    assert maqet.device_add("myvm", driver="usb-storage", device_id="usb1", drive="usb-drive") == {}

    # Add network device
    assert maqet.device_add("myvm", driver="e1000", device_id="net1", netdev="user1") == {}

    # Remove device
    assert maqet.device_del("myvm", "usb1") == {}
    ids = [d.get("qdev_id") for bus in maqet.qmp("myvm", "query-pci") for d in bus["devices"]]
    assert "net1" in ids
