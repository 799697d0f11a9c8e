"""maqet: QEMU virtual machines from YAML, from Python.

    from maqet import Maqet

    with Maqet() as maqet:
        vm_id = maqet.add(config="config.yaml", name="myvm")
        maqet.start(vm_id)
        print(maqet.status(vm_id)["status"])
    # VMs started in the block are stopped here

The methods and their results follow maqet's Python API reference; the work is done by the Rust
core (the same code as the ``maqet`` CLI). See docs/python.md.
"""

from maqet import exceptions
from maqet._commands import Commands as _Commands
from maqet._maqet import Maqet as _NativeMaqet
from maqet._maqet import VMInstance, __version__
from maqet.exceptions import (
    ConfigError,
    MaqetError,
    QMPError,
    RunnerError,
    SnapshotError,
    StateManagerError,
    StorageError,
    TimeoutError,
    VMAlreadyRunningError,
    VMNotFoundError,
)

__all__ = ["Maqet", "VMInstance", *exceptions.__all__, "__version__"]


class Maqet(_Commands, _NativeMaqet):
    """The maqet API: one object per set of directories (XDG defaults, like the CLI).

    ``Maqet(data_dir=None, config_dir=None, runtime_dir=None)``. Safe to share between threads;
    every call releases the GIL. As a context manager (or with ``close()``) it stops, at the end,
    every VM started through it.

    One method per maqet command (generated from the command registry into ``_commands.py``);
    ``call(name, **kwargs)`` runs any command by its CLI name.
    """


for _name, _method in vars(_Commands).items():
    if callable(_method):
        _method.__qualname__ = "Maqet." + _name
        _method.__module__ = "maqet"
del _name, _method
