# Generated from maqet's command registry (the #[api_method] declarations); do not edit.
# Regenerate: MAQET_UPDATE_DOCS=1 cargo test -p maqet-cli --test python_face
import os
from types import TracebackType
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Type, TypedDict, Union

from maqet.exceptions import (
    ConfigError as ConfigError,
    MaqetError as MaqetError,
    QMPError as QMPError,
    RunnerError as RunnerError,
    SnapshotError as SnapshotError,
    StateManagerError as StateManagerError,
    StorageError as StorageError,
    TimeoutError as TimeoutError,
    VMAlreadyRunningError as VMAlreadyRunningError,
    VMNotFoundError as VMNotFoundError,
)

__version__: str

_Path = Union[str, "os.PathLike[str]"]
# A value maqet takes as JSON (config keys, QMP arguments, device properties).
JsonArg = Union[None, bool, int, float, str, "os.PathLike[str]", Sequence["JsonArg"], Mapping[str, "JsonArg"]]
# A command's JSON result, as Python values.
JsonResult = Union[None, bool, int, float, str, List["JsonResult"], Dict[str, "JsonResult"]]

class _DriveSummaryKeys(TypedDict):
    name: str
    type: str
    size: str
    interface: str

class DriveSummary(_DriveSummaryKeys, total=False):
    # One drive in a configuration summary.
    file: str

class PortForward(TypedDict):
    # A forwarded host port.
    host: int
    guest: int
    proto: str
    host_addr: str

class _ConfigurationSummaryKeys(TypedDict):
    binary: str
    display: str
    storage_count: int
    storage_devices: List[DriveSummary]
    guest_agent: bool
    ports: List[PortForward]

class ConfigurationSummary(_ConfigurationSummaryKeys, total=False):
    # The main facts of a VM config.
    memory: str
    cpu: int

class _VmInfoKeys(TypedDict):
    vm_id: str
    name: str
    config_path: Optional[str]
    config_paths: List[str]
    config_data: Any
    run_config: Any
    configuration: ConfigurationSummary
    data_dir: str
    qemu_argv: List[str]

class VmInfo(_VmInfoKeys, total=False):
    # `info`: a VM's configuration and command line.
    firmware: Dict[str, Any]

class SocketState(TypedDict):
    # A socket path and whether it exists.
    path: str
    exists: bool

class SshSummary(TypedDict):
    # Where `maqet ssh` connects.
    host: str
    port: int
    user: str

class _VmStatusReportKeys(TypedDict):
    vm_id: str
    name: str
    status: Literal["created", "running", "paused", "stopped", "saved", "crashed", "failed"]
    is_running: bool
    is_empty: bool
    pid: Optional[int]
    created_at: str
    updated_at: str
    config_path: Optional[str]
    socket_path: Optional[str]
    configuration: ConfigurationSummary

class VmStatusReport(_VmStatusReportKeys, total=False):
    # `status`: what a VM is doing now.
    status_reason: str
    runner_pid: int
    qmp_socket: SocketState
    ssh: SshSummary
    tpm_pid: int

class MemoryInfo(TypedDict):
    # Memory figures.
    rss: int
    vms: int

class ProcessFacts(TypedDict):
    # Facts about the QEMU process.
    cpu_percent: float
    memory_info: MemoryInfo
    create_time: float
    num_threads: int
    cmdline: List[str]
    status: str

class QmpFacts(TypedDict):
    # QMP facts.
    socket: SocketState
    answers: bool
    run_state: Optional[str]

class Inspection(VmStatusReport, total=False):
    # `inspect`: status plus live process and QMP facts.
    process: ProcessFacts
    qmp: QmpFacts

class Screenshot(TypedDict):
    # `qmp screendump`: the file written.
    file: str
    format: str

class VMInstance:
    @property
    def id(self) -> str: ...
    @property
    def vm_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def pid(self) -> Optional[int]: ...
    @property
    def runner_pid(self) -> Optional[int]: ...
    @property
    def socket_path(self) -> Optional[str]: ...
    @property
    def config_path(self) -> Optional[str]: ...
    @property
    def created_at(self) -> str: ...
    @property
    def updated_at(self) -> str: ...
    @property
    def stop_method(self) -> Optional[str]: ...
    @property
    def forced(self) -> Optional[bool]: ...
    @property
    def is_running(self) -> bool: ...

class Maqet:
    def __init__(
        self,
        data_dir: Optional[_Path] = None,
        config_dir: Optional[_Path] = None,
        runtime_dir: Optional[_Path] = None,
    ) -> None: ...
    @property
    def data_dir(self) -> str: ...
    @property
    def config_dir(self) -> str: ...
    @property
    def runtime_dir(self) -> str: ...
    def __enter__(self) -> "Maqet": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...
    def close(self) -> None: ...
    def call(self, command: str, **kwargs: JsonArg) -> JsonResult: ...
    def add(self, config: Optional[Union[_Path, Sequence[_Path]]] = None, name: Optional[str] = None, empty: bool = False, force: bool = False, **kwargs: JsonArg) -> str: ...
    def apply(self, vm_id: str, config: Optional[Union[_Path, Sequence[_Path]]] = None, force: bool = False, **kwargs: JsonArg) -> VMInstance: ...
    def cleanup(self, dry_run: bool = False, force: bool = False) -> JsonResult: ...
    def clone(self, src: str, new: str, linked: bool = False) -> JsonResult: ...
    def console(self, vm: str) -> JsonResult: ...
    def cp(self, src: str, dst: str, recursive: bool = False, force: bool = False, max_bytes: Optional[str] = None, via: Literal["auto", "agent", "ssh", "channel"] = "auto") -> JsonResult: ...
    def doctor(self, fix: bool = False) -> JsonResult: ...
    def events(self, vm: str, follow: bool = False, until: Optional[str] = None, timeout: Optional[Union[float, str]] = None) -> JsonResult: ...
    def exec(self, vm: str, command: Optional[Union[str, Sequence[str]]] = None, timeout: Union[float, str] = 60, env: Optional[Union[str, Sequence[str]]] = None, cwd: Optional[str] = None, input: Optional[str] = None) -> JsonResult: ...
    def info(self, vm_id: str) -> VmInfo: ...
    def inspect(self, vm_id: str) -> Inspection: ...
    def ls(self, status: Optional[Literal["created", "running", "paused", "stopped", "saved", "crashed", "failed"]] = None) -> str: ...
    def qmp(self, vm_id: str, command: str, **kwargs: JsonArg) -> Dict[str, Any]: ...
    def rm(self, vm_id: Optional[Union[str, Sequence[str]]] = None, force: bool = False, all: bool = False, clean_storage: bool = False) -> bool: ...
    def snapshot(self, vm_id: str, action: Literal["create", "load", "list", "delete"], drive: str, name: Optional[str] = None, overwrite: bool = False) -> Union[Dict[str, Any], List[str]]: ...
    def ssh(self, vm: str, command: Optional[Union[str, Sequence[str]]] = None) -> JsonResult: ...
    def ssh_config(self, vm: Optional[str] = None) -> JsonResult: ...
    def start(self, vm_id: str) -> VMInstance: ...
    def status(self, vm_id: str, detailed: bool = False) -> VmStatusReport: ...
    def stop(self, vm_id: str, force: bool = False, timeout: Union[float, str] = 30, save: bool = False) -> VMInstance: ...
    def storage_info(self, vm: str) -> JsonResult: ...
    def wait(self, vm: str, serial: Optional[str] = None, state: Optional[Literal["created", "running", "paused", "stopped", "saved", "crashed", "failed"]] = None, event: Optional[str] = None, agent: bool = False, tcp: Optional[int] = None, ssh: bool = False, screen_text: Optional[str] = None, screen_match: Optional[_Path] = None, screen_still: Optional[float] = None, screen_change: bool = False, timeout: Union[float, str] = 60, region: Optional[str] = None, threshold: Optional[float] = None, record: Optional[_Path] = None) -> JsonResult: ...
    def config_schema(self) -> JsonResult: ...
    def config_validate(self, files: Optional[Union[_Path, Sequence[_Path]]] = None) -> JsonResult: ...
    def guest_info(self, vm: str) -> JsonResult: ...
    def image_ls(self) -> JsonResult: ...
    def image_prune(self) -> JsonResult: ...
    def image_pull(self, source: str, sha256: Optional[str] = None, checksums: Optional[str] = None) -> JsonResult: ...
    def image_rm(self, image: str, force: bool = False) -> JsonResult: ...
    def device_add(self, vm_id: str, driver: str, device_id: str, **kwargs: JsonArg) -> Dict[str, Any]: ...
    def device_del(self, vm_id: str, device_id: str) -> Dict[str, Any]: ...
    def qmp_key(self, vm_id: str, *keys: str, hold_time: int = 100) -> Dict[str, Any]: ...
    def press_keys(self, vm_id: str, *keys: str, hold_time: int = 100, record: Optional[_Path] = None) -> Dict[str, Any]: ...
    def qmp_mouse_click(self, vm: str, button: str = "left", at: Optional[str] = None, double: bool = False, hold: Optional[str] = None) -> JsonResult: ...
    def qmp_mouse_move(self, vm: str, x: int, y: int) -> JsonResult: ...
    def qmp_mouse_scroll(self, vm: str, steps: int) -> JsonResult: ...
    def qmp_stop(self, vm_id: str) -> Dict[str, Any]: ...
    def qmp_cont(self, vm_id: str) -> Dict[str, Any]: ...
    def qmp_run(self, vm: str, command: str, args: Optional[str] = None, allow_dangerous: bool = False, **arguments: JsonArg) -> JsonResult: ...
    def screendump(self, vm_id: str, filename: _Path) -> Screenshot: ...
    def qmp_type(self, vm_id: str, text: str, hold_time: int = 100) -> List[Dict[str, Any]]: ...
    def type_text(self, vm_id: str, text: str, hold_time: int = 100, *, delay: int = 0, record: Optional[_Path] = None) -> List[Dict[str, Any]]: ...
    def screen_find(self, vm: str, needle: _Path, threshold: Optional[float] = None, region: Optional[str] = None) -> JsonResult: ...
    def screen_text(self, vm: str, region: Optional[str] = None) -> JsonResult: ...
    def state_rebuild(self) -> JsonResult: ...
    def storage_attach(self, name: str, path: _Path, config: _Path) -> JsonResult: ...
    def storage_orphaned(self) -> JsonResult: ...
    def storage_verify(self, vm: str) -> JsonResult: ...
