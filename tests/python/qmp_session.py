#!/usr/bin/env python3
"""Drives a VM's QMP socket with QEMU's own Python library (qemu.qmp), as a new user would.

Usage: qmp_session.py SOCKET
Connects, runs commands, expects ExecuteError(CommandNotFound) for an unknown command,
receives STOP and RESUME through listener(), and expects the raw-QMP gate to refuse
human-monitor-command with a GenericError naming --allow-dangerous. Prints one JSON line.
"""
import asyncio
import json
import sys

from qemu.qmp import ExecuteError, QMPClient

TIMEOUT = 60


async def main(socket: str) -> None:
    qmp = QMPClient("maqet-test")
    await asyncio.wait_for(qmp.connect(socket), TIMEOUT)
    status = await qmp.execute("query-status")
    assert status["status"] == "running", status

    try:
        await qmp.execute("no-such-command")
        raise AssertionError("an unknown command did not raise ExecuteError")
    except ExecuteError as err:
        unknown = err.error_class
    assert unknown == "CommandNotFound", unknown

    with qmp.listener(("STOP", "RESUME")) as listener:
        await qmp.execute("stop")
        stop = await asyncio.wait_for(listener.get(), TIMEOUT)
        await qmp.execute("cont")
        resume = await asyncio.wait_for(listener.get(), TIMEOUT)
    assert stop["event"] == "STOP", stop
    assert resume["event"] == "RESUME", resume
    assert "seconds" in stop["timestamp"], stop

    try:
        await qmp.execute("human-monitor-command", {"command-line": "info version"})
        raise AssertionError("human-monitor-command was not refused")
    except ExecuteError as err:
        gated = {"class": err.error_class, "desc": err.error.error.desc}
    assert gated["class"] == "GenericError", gated
    assert "--allow-dangerous" in gated["desc"], gated

    await qmp.disconnect()
    print(json.dumps({
        "status": status["status"],
        "unknown": unknown,
        "events": [stop["event"], resume["event"]],
        "gated": gated,
    }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
