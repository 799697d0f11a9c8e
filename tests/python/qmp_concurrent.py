#!/usr/bin/env python3
"""Many qemu.qmp clients at once on one QMP socket, each running many commands.

Usage: qmp_concurrent.py SOCKET CLIENTS COMMANDS
Every client runs COMMANDS commands back to back (query-status, and qom-get with a path
of its own so that a reply routed to the wrong client would show); prints the count.
"""
import asyncio
import json
import sys

from qemu.qmp import QMPClient

TIMEOUT = 120


async def one_client(socket: str, number: int, commands: int) -> int:
    qmp = QMPClient(f"client-{number}")
    await asyncio.wait_for(qmp.connect(socket), TIMEOUT)
    answered = 0
    for i in range(commands):
        if i % 2 == 0:
            reply = await asyncio.wait_for(qmp.execute("query-status"), TIMEOUT)
            assert reply["status"] == "running", reply
        else:
            # Each client asks for a different property; the answer must be its own.
            prop = ["type", "realized"][number % 2]
            reply = await asyncio.wait_for(
                qmp.execute("qom-get", {"path": "/machine/unattached/device[0]", "property": prop}),
                TIMEOUT,
            )
            if prop == "realized":
                assert reply is True, reply
            else:
                assert isinstance(reply, str), reply
        answered += 1
    await qmp.disconnect()
    return answered


async def main(socket: str, clients: int, commands: int) -> None:
    counts = await asyncio.gather(*(one_client(socket, n, commands) for n in range(clients)))
    print(json.dumps({"answered": sum(counts), "per_client": counts}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
