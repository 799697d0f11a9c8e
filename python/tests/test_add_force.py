"""`force` of `add` and `apply`: a host port in `ports` that another VM already forwards is
refused without it, as the CLI refuses it without `--force`, and stored with it."""

import socket
from pathlib import Path

import pytest

from maqet import Maqet, MaqetError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ports_yaml(work: Path, name: str, port: int) -> str:
    path = work / f"{name}.yaml"
    path.write_text(f"ports:\n  - {{host: {port}, guest: 22}}\n")
    return str(path)


def test_add_and_apply_store_a_host_port_another_vm_forwards_only_with_force(home: Path) -> None:
    maqet = Maqet()
    port = free_port()
    ports = ports_yaml(home, "ports", port)
    maqet.add(config=["config.yaml", ports], name="first")

    with pytest.raises(MaqetError, match=f"host port {port}/tcp .*already forwarded by VM `first`"):
        maqet.add(config=["config.yaml", ports], name="second")
    assert "second" not in maqet.ls()
    vm_id = maqet.add(config=["config.yaml", ports], name="second", force=True)
    assert maqet.info(vm_id)["configuration"]["ports"][0]["host"] == port

    maqet.add(config="config.yaml", name="third")
    with pytest.raises(MaqetError, match="apply it anyway with `--force`"):
        maqet.apply("third", config=ports)
    assert maqet.info("third")["configuration"]["ports"] == []
    vm = maqet.apply("third", config=ports, force=True)
    assert vm.name == "third"
    assert maqet.info("third")["configuration"]["ports"][0]["host"] == port
