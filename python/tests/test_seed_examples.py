"""Two examples of the reference run exactly as written (issue P, item 7), on the test guest:

- *Snapshot-Based Testing*: the base snapshot is taken right after ``add``, before the VM ever
  started, so the qcow2 image does not exist yet: ``snapshot`` creates it as ``start`` would.
- *Pause, take snapshot, resume*: ``status()`` right after ``qmp_stop()`` already says
  ``paused`` (and ``running`` right after ``qmp_cont()``).
"""

from pathlib import Path

from maqet import Maqet


def run_performance_test(maqet, vm_id):
    return maqet.qmp(vm_id, "query-cpus-fast")


def test_with_snapshots(maqet, vm_id):
    """Test multiple configurations with snapshot rollback."""
    # Create base snapshot
    maqet.snapshot(vm_id, "create", "hdd", "base-state")

    configs = [
        {"memory": "4G", "cpu": 2},
        {"memory": "8G", "cpu": 4},
        {"memory": "16G", "cpu": 8}
    ]

    results = []
    for config in configs:
        # Apply configuration
        maqet.apply(vm_id, **config)
        maqet.start(vm_id)

        # Run tests
        result = run_performance_test(maqet, vm_id)
        results.append(result)

        # Stop and rollback
        maqet.stop(vm_id)
        maqet.snapshot(vm_id, "load", "hdd", "base-state")

    return results


# pytest would collect the reference's function by its name; it is a helper here.
test_with_snapshots.__test__ = False  # type: ignore[attr-defined]


def test_snapshot_based_testing_right_after_add(home: Path) -> None:
    maqet = Maqet()
    vm_id = maqet.add(config="config.yaml", name="myvm")

    results = test_with_snapshots(maqet, vm_id)

    assert [len(r) for r in results] == [2, 4, 8]
    assert maqet.snapshot(vm_id, "list", "hdd") == ["base-state"]
    assert maqet.status(vm_id)["status"] == "stopped"


def test_pause_take_snapshot_resume_and_status_reads_its_own_writes(home: Path) -> None:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="myvm")
    maqet.start("myvm")

    # Pause, take snapshot, resume
    maqet.qmp_stop("myvm")
    assert maqet.status("myvm")["status"] == "paused"
    maqet.snapshot("myvm", "create", "hdd", "paused-state")
    maqet.qmp_cont("myvm")
    assert maqet.status("myvm")["status"] == "running"

    assert maqet.snapshot("myvm", "list", "hdd") == ["paused-state"]
    for _ in range(20):
        maqet.qmp_stop("myvm")
        assert maqet.status("myvm")["status"] == "paused"
        maqet.qmp_cont("myvm")
        assert maqet.status("myvm")["status"] == "running"


def test_stop_says_how_the_vm_stopped(home: Path) -> None:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="myvm")
    maqet.start("myvm")
    maqet.wait("myvm", serial="MAQET-GUEST READY", timeout=120)
    # Graceful shutdown (default): the test guest powers off on the ACPI power button.
    vm = maqet.stop("myvm")
    assert (vm.status, vm.stop_method, vm.forced) == ("stopped", "acpi", False)
    assert maqet.start("myvm").stop_method is None
    # Force kill immediately
    report = maqet.call("stop", vm="myvm", force=True)
    assert report["method"] == "quit" and report["forced"] is True, report
