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
