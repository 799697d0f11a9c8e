"""The reference's Quick Start, Core Concepts and VM Management examples, as written there."""

import warnings
from pathlib import Path

import pytest

from maqet import Maqet, MaqetError, VMInstance


def test_quick_start(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from maqet import Maqet

    # Create MAQET instance
    maqet = Maqet()

    # Create VM from config file
    vm_id = maqet.add(config="config.yaml", name="myvm")

    # Start the VM
    maqet.start(vm_id)

    # Get VM status
    status = maqet.status(vm_id)
    print(f"VM {status['name']} is {status['status']}")

    # Stop the VM
    maqet.stop(vm_id)

    # Remove the VM
    maqet.rm(vm_id, force=True)

    assert capsys.readouterr().out == "VM myvm is running\n"
    assert "myvm" not in maqet.ls()


def test_data_directory(home: Path, tmp_path: Path) -> None:
    # Use default XDG directories
    maqet = Maqet()  # Data in ~/.local/share/maqet/
    assert maqet.data_dir == str(tmp_path / "xdg-data" / "maqet")

    # Override data directory
    custom = tmp_path / "custom" / "path"
    maqet = Maqet(data_dir=str(custom))
    maqet.add(name="placeholder", empty=True)
    assert (custom / "maqet.db").is_file()


def test_context_manager(home: Path) -> None:
    # Automatic cleanup on exit
    with Maqet() as maqet:
        vm_id = maqet.add(config="config.yaml")
        maqet.start(vm_id)
        assert maqet.status(vm_id)["status"] == "running"
        # VM automatically stopped on exit
    assert Maqet().status(vm_id)["status"] == "stopped"


def test_context_manager_stops_vms_when_the_block_raises(home: Path) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with Maqet() as maqet:
            vm_id = maqet.add(config="config.yaml", name="doomed")
            maqet.start(vm_id)
            raise Boom()
    status = Maqet().status("doomed")
    assert status["status"] == "stopped" and not status["is_running"], status


def test_close_stops_only_the_vms_it_started(home: Path) -> None:
    other = Maqet()
    other.add(config="config.yaml", name="not-mine")
    other.start("not-mine")
    maqet = Maqet()
    maqet.add(config="config.yaml", name="mine")
    maqet.start("mine")
    maqet.close()
    assert other.status("mine")["status"] == "stopped"
    assert other.status("not-mine")["status"] == "running"


def test_add_examples(home: Path) -> None:
    maqet = Maqet()
    # Create VM from single config file
    vm_id = maqet.add(config="vm.yaml", name="myvm")
    assert isinstance(vm_id, str) and len(vm_id) == 36

    # Deep-merge multiple config files
    vm_id = maqet.add(config=["base.yaml", "custom.yaml"], name="production-vm")
    assert maqet.info(vm_id)["configuration"]["memory"] == "512M"

    # Create VM with parameters
    vm_id = maqet.add(name="test-vm", memory="4G", cpu=2)
    conf = maqet.info(vm_id)["configuration"]
    assert (conf["memory"], conf["cpu"]) == ("4G", 2)

    # Combine config file with parameter overrides
    vm_id = maqet.add(config="base.yaml", memory="8G", cpu=4)
    conf = maqet.info(vm_id)["configuration"]
    assert (conf["memory"], conf["cpu"]) == ("8G", 4)

    # Create empty placeholder VM
    vm_id = maqet.add(name="placeholder", empty=True)
    assert maqet.status(vm_id)["is_empty"] is True


def test_start_examples(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maqet = Maqet()
    vm_id = maqet.add(config="config.yaml", name="myvm")
    # Start VM by name
    vm = maqet.start("myvm")
    print(f"VM started with PID {vm.pid}")
    assert isinstance(vm, VMInstance) and vm.status == "running" and vm.pid
    assert vm.id == vm_id and vm.name == "myvm" and vm.runner_pid and vm.socket_path
    assert vm.config_path and vm.created_at and vm.updated_at
    assert repr(vm).startswith("VMInstance(id=") and "status='running'" in repr(vm)
    maqet.stop("myvm", force=True)

    # Start VM by ID
    vm = maqet.start(vm_id)
    assert vm.status == "running"
    maqet.stop(vm_id, force=True)
    assert capsys.readouterr().out.startswith("VM started with PID ")


def test_stop_examples(home: Path) -> None:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="myvm")
    maqet.start("myvm")
    # Graceful shutdown (default)
    vm = maqet.stop("myvm")
    assert isinstance(vm, VMInstance) and vm.status == "stopped" and vm.pid is None

    maqet.start("myvm")
    # Force kill immediately
    assert maqet.stop("myvm", force=True).status == "stopped"

    maqet.start("myvm")
    # Custom timeout for graceful shutdown
    assert maqet.stop("myvm", timeout=60).status == "stopped"


def test_rm_examples(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    maqet = Maqet()
    for name in ("myvm", "running", "cleaned", "a", "b"):
        maqet.add(config="config.yaml", name=name)
    # Remove stopped VM
    assert maqet.rm("myvm") is True

    # Force remove running VM
    maqet.start("running")
    with pytest.raises(MaqetError, match="force"):
        maqet.rm("running")
    assert maqet.rm("running", force=True) is True

    # Remove VM and delete storage files
    maqet.start("cleaned")  # creates its disk
    disk = Path(maqet.info("cleaned")["configuration"]["storage_devices"][0]["file"])
    assert disk.is_file()
    maqet.rm("cleaned", force=True, clean_storage=True)
    assert not disk.exists()

    # Remove all VMs (with confirmation prompt): without a terminal nothing is removed
    with pytest.raises(MaqetError, match="no terminal"):
        maqet.rm(all=True)
    assert "a " in maqet.ls() and "b " in maqet.ls()

    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(MaqetError, match="cancelled"):
        maqet.rm(all=True)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert maqet.rm(all=True) is True
    assert maqet.ls() == "No virtual machines found."

    # Force remove all VMs without confirmation
    maqet.add(config="config.yaml", name="c")
    maqet.start("c")
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("force=True must not ask"))
    assert maqet.rm(all=True, force=True) is True
    assert maqet.ls() == "No virtual machines found."


def test_ls_examples(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="myvm")
    maqet.add(config="config.yaml", name="testvm")
    maqet.start("myvm")
    maqet.stop("testvm")  # not running: a no-op that leaves it created
    # List all VMs
    print(maqet.ls())
    # List only running VMs
    print(maqet.ls(status="running"))
    # List stopped VMs
    print(maqet.ls(status="stopped"))
    out = capsys.readouterr().out.splitlines()
    pid = maqet.status("myvm")["pid"]
    assert out[0] == "NAME                 STATUS     PID"
    assert out[1] == "-" * 40
    assert out[2] == f"myvm                 running    {pid}"
    assert out[3] == "testvm               created    -"
    assert out[4:7] == [out[0], out[1], out[2]]
    assert out[7] == "No virtual machines found."


def test_status_examples(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="myvm")
    maqet.start("myvm")
    maqet.snapshot("myvm", "create", "hdd", "backup1")
    # Basic status
    status = maqet.status("myvm")
    print(f"VM: {status['name']}")
    print(f"Status: {status['status']}")
    print(f"PID: {status['pid']}")
    for key in ("vm_id", "name", "status", "is_running", "is_empty", "pid", "created_at",
                "updated_at", "config_path", "socket_path", "configuration", "qmp_socket"):
        assert key in status, key
    assert "process" not in status and "snapshots" not in status
    assert status["configuration"]["storage_devices"][0]["name"] == "hdd"

    # Detailed status (requires psutil)
    with pytest.warns(DeprecationWarning, match=r"info\(\).*inspect\(\)"):
        status = maqet.status("myvm", detailed=True)
    if 'process' in status:
        print(f"CPU: {status['process']['cpu_percent']}%")
        print(f"Memory: {status['process']['memory_info']['rss']} bytes")
    assert status["process"]["memory_info"]["rss"] > 0
    assert status["snapshots"] == {"hdd": {"snapshot_count": 1, "snapshots": ["backup1"]}}
    out = capsys.readouterr().out
    assert "VM: myvm\nStatus: running\nPID: " in out and "CPU: " in out


def test_status_of_a_stopped_vm_omits_what_it_does_not_have(home: Path) -> None:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="idle")
    status = maqet.status("idle")
    assert status["pid"] is None and "qmp_socket" not in status and "runner_pid" not in status
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert "process" not in maqet.status("idle", detailed=True)
    assert "process" not in maqet.inspect("idle")


def test_info_examples(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="myvm")
    # Get VM configuration
    config = maqet.info("myvm")
    print(f"Binary: {config['configuration']['binary']}")
    print(f"Memory: {config['configuration']['memory']}")
    print(f"CPU: {config['configuration']['cpu']}")
    print(f"Storage devices: {config['configuration']['storage_count']}")

    # Inspect storage devices
    for device in config['configuration']['storage_devices']:
        print(f"Device: {device['name']} ({device['type']})")
        print(f"  Size: {device['size']}")
        print(f"  Interface: {device['interface']}")

    # Access raw config data
    if 'arguments' in config['config_data']:
        print(f"QEMU arguments: {config['config_data']['arguments']}")
    out = capsys.readouterr().out
    assert "Binary: qemu-system-x86_64\nMemory: 256M\nCPU: 1\nStorage devices: 1\n" in out
    assert "Device: hdd (qcow2)\n  Size: 64M\n  Interface: virtio\n" in out
    assert "QEMU arguments: [{'kernel': " in out
    assert config["vm_id"] and config["name"] == "myvm" and config["config_path"].endswith("config.yaml")


def test_inspect_examples(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="myvm")
    maqet.start("myvm")
    # Comprehensive VM inspection
    details = maqet.inspect("myvm")
    print(f"VM: {details['name']} ({details['status']})")
    print(f"PID: {details['pid']}")
    print(f"Binary: {details['configuration']['binary']}")
    print(f"Memory: {details['configuration']['memory']}")

    # Check process details (only if running)
    if 'process' in details:
        proc = details['process']
        print(f"CPU: {proc['cpu_percent']}%")
        print(f"Memory: {proc['memory_info']['rss']} bytes")
        print(f"Uptime: {proc['create_time']}")
        print(f"Threads: {proc['num_threads']}")
        print(f"Command: {' '.join(proc['cmdline'])}")

    # Check QMP socket status
    qmp = details['qmp_socket']
    print(f"QMP socket: {qmp['path']}")
    print(f"Socket exists: {qmp['exists']}")

    # Monitor resource usage (the reference loops forever; three rounds here)
    import time
    for _ in range(3):
        details = maqet.inspect("myvm")
        if 'process' in details:
            print(f"CPU: {details['process']['cpu_percent']}%")
        time.sleep(0.5)

    proc = details["process"]
    assert isinstance(proc["create_time"], float) and proc["num_threads"] >= 1
    assert proc["cmdline"][0].endswith("qemu-system-x86_64") and proc["status"]
    assert qmp["exists"] is True and details["is_running"] is True
    out = capsys.readouterr().out
    assert "VM: myvm (running)\n" in out and "Socket exists: True\n" in out


def test_apply_examples(home: Path) -> None:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="myvm")
    # Apply config file to existing VM
    vm = maqet.apply("myvm", config="updated.yaml")
    assert isinstance(vm, VMInstance) and maqet.info("myvm")["configuration"]["memory"] == "384M"

    # Update specific parameters
    vm = maqet.apply("myvm", memory="8G", cpu=4)
    assert (maqet.info("myvm")["configuration"]["memory"], maqet.info("myvm")["configuration"]["cpu"]) == ("8G", 4)

    # Merge multiple configs and parameters
    vm = maqet.apply("myvm", config=["base.yaml", "prod.yaml"], memory="16G")
    conf = maqet.info("myvm")["configuration"]
    assert (conf["memory"], conf["cpu"]) == ("16G", 2)

    # Create VM if it doesn't exist
    vm = maqet.apply("newvm", config="config.yaml")
    assert vm.name == "newvm" and vm.status == "created"


def test_config_deep_merge(home: Path) -> None:
    maqet = Maqet()
    # Create VM with merged configurations
    vm_id = maqet.add(
        config=["base.yaml", "environment/production.yaml", "overrides.yaml"],
        name="prod-server",
        memory="32G"  # Final override via parameter
    )
    conf = maqet.info(vm_id)["configuration"]
    assert (conf["memory"], conf["cpu"]) == ("32G", 2)
