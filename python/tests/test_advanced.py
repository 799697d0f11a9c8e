"""The reference's Advanced Usage and Error Handling examples."""

import time
from pathlib import Path

import pytest

from maqet import Maqet, MaqetError


def test_multiple_vm_orchestration(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from maqet import Maqet

    with Maqet() as maqet:
        # Create multiple VMs
        vms = []
        for i in range(3):
            vm_id = maqet.add(
                config="base.yaml",
                name=f"cluster-{i}",
                memory=f"{4 + i}G"
            )
            vms.append(vm_id)

        # Start all VMs
        for vm_id in vms:
            maqet.start(vm_id)

        # Perform operations
        for vm_id in vms:
            status = maqet.status(vm_id)
            print(f"{status['name']}: {status['status']}")

        # Cleanup happens automatically on exit
    assert capsys.readouterr().out == "cluster-0: running\ncluster-1: running\ncluster-2: running\n"
    after = Maqet()
    assert [after.status(v)["status"] for v in vms] == ["stopped"] * 3


def test_automated_vm_configuration(home: Path) -> None:
    def configure_vm(maqet, vm_id):
        """Configure VM via QMP keyboard automation."""
        # Wait for boot
        import time
        time.sleep(10)

        # Login
        maqet.qmp_type(vm_id, "root")
        maqet.qmp_key(vm_id, "ret")
        maqet.qmp_type(vm_id, "password")
        maqet.qmp_key(vm_id, "ret")

        # Run commands
        commands = [
            "ip addr show",
            "systemctl status",
            "poweroff"
        ]

        for cmd in commands:
            maqet.qmp_type(vm_id, cmd)
            maqet.qmp_key(vm_id, "ret")
            time.sleep(2)

            # Take screenshot
            maqet.screendump(vm_id, f"cmd_{cmd.replace(' ', '_')}.ppm")

    # Usage
    with Maqet() as maqet:
        vm_id = maqet.add(config="test.yaml", name="automation-test")
        maqet.start(vm_id)
        configure_vm(maqet, vm_id)
    for shot in ("cmd_ip_addr_show.ppm", "cmd_systemctl_status.ppm", "cmd_poweroff.ppm"):
        assert (home / shot).read_bytes()[:2] == b"P6", shot


def test_error_handling_best_practices(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from maqet import Maqet, MaqetError

    try:
        with Maqet() as maqet:
            vm_id = maqet.add(config="config.yaml", name="myvm")
            maqet.start(vm_id)

            # ... operations ...
            maqet.start(vm_id)  # already running: a MaqetError

    except MaqetError as e:
        print(f"MAQET error: {e}")
        # Handle gracefully
    except Exception as e:
        print(f"Unexpected error: {e}")
        # Log and exit
    assert capsys.readouterr().out.startswith("MAQET error: VM `myvm` is already running")
    assert Maqet().status("myvm")["status"] == "stopped"


def test_graceful_cleanup(home: Path) -> None:
    maqet = Maqet()
    vm_id = None

    try:
        vm_id = maqet.add(config="config.yaml")
        maqet.start(vm_id)
        # ... operations ...
    except Exception as e:
        print(f"Error: {e}")
    finally:
        if vm_id:
            try:
                maqet.stop(vm_id, force=True)
                maqet.rm(vm_id, force=True)
            except:
                pass  # Best effort cleanup
    assert maqet.ls() == "No virtual machines found."


def test_retry_logic(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time
    from maqet import Maqet, MaqetError

    def start_with_retry(maqet, vm_id, max_retries=3):
        """Start VM with retry on failure."""
        for attempt in range(max_retries):
            try:
                return maqet.start(vm_id)
            except MaqetError as e:
                if attempt < max_retries - 1:
                    print(f"Start failed (attempt {attempt + 1}), retrying...")
                    time.sleep(2 ** attempt)  # Exponential backoff
                else:
                    raise

    maqet = Maqet()
    maqet.add(config="config.yaml", name="ok")
    assert start_with_retry(maqet, "ok").status == "running"
    maqet.add(name="hollow", empty=True)
    with pytest.raises(MaqetError, match="no configuration"):
        start_with_retry(maqet, "hollow")
    assert capsys.readouterr().out.count("retrying...") == 2
