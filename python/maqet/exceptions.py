"""The exceptions maqet raises.

Every error is a :class:`MaqetError`. Its message is the chain the ``maqet`` CLI prints (what
failed and what to do, then one ``caused by:`` line per cause); ``exit_code`` is the exit code
the CLI would use for it and ``kind`` its class (``invalid-input``, ``not-found``,
``already-exists``, ``timeout``, ``cancelled``, ``permission-denied`` or ``failure``).
"""

import builtins

__all__ = [
    "MaqetError",
    "StateManagerError",
    "ConfigError",
    "SnapshotError",
    "StorageError",
    "VMNotFoundError",
    "VMAlreadyRunningError",
    "QMPError",
    "RunnerError",
    "TimeoutError",
]


class MaqetError(Exception):
    """Base class of every maqet error."""

    exit_code: int = 1
    kind: str = "failure"


class StateManagerError(MaqetError):
    """The state database (maqet.db) failed."""


class ConfigError(MaqetError):
    """A VM config or an argument is invalid; config errors name file:line:column."""


class SnapshotError(MaqetError):
    """A snapshot could not be created, loaded, listed or deleted."""


class StorageError(MaqetError):
    """A drive or a disk image operation failed."""


class VMNotFoundError(MaqetError):
    """No VM has this name or id."""


class VMAlreadyRunningError(MaqetError):
    """start() on a VM that is already running."""


class QMPError(MaqetError):
    """QEMU refused a QMP command, or the QMP connection failed."""


class RunnerError(MaqetError):
    """Starting, watching or stopping a VM's runner process failed."""


class TimeoutError(MaqetError, builtins.TimeoutError):
    """A wait ran out of time (also a builtin ``TimeoutError``)."""
