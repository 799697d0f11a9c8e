"""Reference examples for the mypy check (test_stubs_type_check_the_reference_examples): typed
exactly as a user would write them against the stubs. Not run."""

import time
from typing import Any, Dict, List, Optional

from maqet import Maqet, MaqetError, VMInstance
from maqet.exceptions import ConfigError


def quick_start() -> None:
    maqet = Maqet()
    vm_id = maqet.add(config="config.yaml", name="myvm")
    maqet.start(vm_id)
    status = maqet.status(vm_id)
    print(f"VM {status['name']} is {status['status']}")
    maqet.stop(vm_id)
    maqet.rm(vm_id, force=True)


def management(maqet: Maqet) -> None:
    vm_id = maqet.add(config=["base.yaml", "custom.yaml"], name="production-vm")
    vm_id = maqet.add(name="test-vm", memory="4G", cpu=2)
    vm_id = maqet.add(name="placeholder", empty=True)
    vm: VMInstance = maqet.start("myvm")
    print(f"VM started with PID {vm.pid}")
    maqet.stop("myvm", force=True)
    maqet.stop("myvm", timeout=60)
    removed: bool = maqet.rm(all=True, force=True)
    print(maqet.ls(status="running"), removed, vm_id)
    config = maqet.info("myvm")
    for device in config['configuration']['storage_devices']:
        print(f"Device: {device['name']} ({device['type']})")
    details = maqet.inspect("myvm")
    if 'process' in details:
        print(f"CPU: {details['process']['cpu_percent']}%")
    vm = maqet.apply("myvm", config=["base.yaml", "prod.yaml"], memory="16G")


def qmp(maqet: Maqet) -> None:
    result: Dict[str, Any] = maqet.qmp("myvm", "query-status")
    print(result)
    maqet.qmp_key("myvm", "ctrl", "alt", "delete", hold_time=200)
    typed: List[Dict[str, Any]] = maqet.qmp_type("myvm", "sensitive-command", hold_time=150)
    maqet.screendump("myvm", "screenshot.ppm")
    maqet.qmp_stop("myvm")
    maqet.snapshot("myvm", "create", "hdd", "paused-state")
    maqet.qmp_cont("myvm")
    maqet.device_add("myvm", driver="usb-storage", device_id="usb1", drive="usb-drive")
    maqet.device_del("myvm", "usb1")
    snapshots = maqet.snapshot("myvm", "list", "hdd")
    print(snapshots, typed)


def start_with_retry(maqet: Maqet, vm_id: str, max_retries: int = 3) -> Optional[VMInstance]:
    for attempt in range(max_retries):
        try:
            return maqet.start(vm_id)
        except MaqetError:
            if attempt < max_retries - 1:
                time.sleep(2 ** attempt)
            else:
                raise
    return None


def context() -> None:
    try:
        with Maqet() as maqet:
            vm_id = maqet.add(config="config.yaml", name="myvm")
            maqet.start(vm_id)
    except ConfigError as e:
        print(f"config: {e}")
    except MaqetError as e:
        print(f"MAQET error: {e}")
