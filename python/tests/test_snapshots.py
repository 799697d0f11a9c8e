"""The reference's Storage & Snapshots examples, and snapshot-based testing."""

from pathlib import Path

import pytest

from maqet import Maqet, SnapshotError


@pytest.fixture
def maqet(home: Path) -> Maqet:
    maqet = Maqet()
    maqet.add(config="config.yaml", name="myvm")
    maqet.start("myvm")  # creates the disk
    maqet.stop("myvm", force=True)
    return maqet


def test_snapshot_examples(maqet: Maqet, capsys: pytest.CaptureFixture[str]) -> None:
    # Create snapshot
    result = maqet.snapshot("myvm", "create", "hdd", "backup1")
    print(result)
    # {'status': 'success', 'operation': 'create', 'vm_id': '...',
    #  'drive': 'hdd', 'snapshot': 'backup1', 'overwrite': False}
    expected = {"status": "success", "operation": "create", "vm_id": maqet.status("myvm")["vm_id"],
                "drive": "hdd", "snapshot": "backup1", "overwrite": False}
    assert {k: result[k] for k in expected} == expected

    # Overwrite existing snapshot
    result = maqet.snapshot("myvm", "create", "hdd", "backup1", overwrite=True)
    assert result["overwrite"] is True
    with pytest.raises(SnapshotError, match="overwrite"):
        maqet.snapshot("myvm", "create", "hdd", "backup1")

    # Load snapshot
    result = maqet.snapshot("myvm", "load", "hdd", "backup1")
    assert result["operation"] == "load"

    # List snapshots
    maqet.snapshot("myvm", "create", "hdd", "backup2")
    maqet.snapshot("myvm", "create", "hdd", "pre-update")
    snapshots = maqet.snapshot("myvm", "list", "hdd")
    print(snapshots)  # ['backup1', 'backup2', 'pre-update']
    assert snapshots == ["backup1", "backup2", "pre-update"]
    assert "'status': 'success'" in capsys.readouterr().out


def test_running_vm_snapshots_are_disk_only_and_load_needs_a_stop(maqet: Maqet) -> None:
    maqet.start("myvm")
    result = maqet.snapshot("myvm", "create", "hdd", "while-running")
    assert result["method"] == "qmp-disk-only" and result["live"] is False
    maqet.snapshot("myvm", "create", "hdd", "while-running", overwrite=True)
    assert maqet.snapshot("myvm", "list", "hdd") == ["while-running"]
    with pytest.raises(SnapshotError, match=r"--live.*stop"):
        maqet.snapshot("myvm", "load", "hdd", "while-running")
    maqet.stop("myvm")
    assert maqet.snapshot("myvm", "load", "hdd", "while-running")["status"] == "success"


def test_snapshot_based_testing(maqet: Maqet) -> None:
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

    results = test_with_snapshots(maqet, "myvm")
    assert [len(r) for r in results] == [2, 4, 8]
