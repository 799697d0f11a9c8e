"""20 VMs started at once: 20 `maqet start` processes vs 20 raw QEMUs started at once (issue J).

Registers COUNT no-OS VMs (-m 32M, TCG). Each round, in alternating order: spawns COUNT
`maqet start` processes at once and times until the last one has returned (each returns once
its VM answers QMP), then stops them all (untimed); and spawns COUNT raw QEMUs with the same
argv at once, each with an inherited listening QMP socket (fd 3, as the runner does), and times
until the last one has answered `query-status`, then kills them. Reports median and min of the
total wall times and the ratio of medians.
Usage: concurrent_starts.sh [ROUNDS] [COUNT]   (default 5 rounds of 20; target ratio <= 1.2)
"""

import json
import os
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import benchlib
from start_vs_qemu import QMP_FD, raw_argv

TARGET_RATIO = 1.2


def spawn_raw(argv, sock_path):
    """Spawns one QEMU with a listening QMP socket as fd 3, in a session of its own (as the
    runner's QEMU is); returns (pid, connected client)."""
    Path(sock_path).unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(sock_path)
    listener.listen(8)
    if listener.fileno() == QMP_FD:
        os.set_inheritable(QMP_FD, True)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, listener.fileno(), QMP_FD),
    ]
    pid = os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=actions, setsid=True)
    client = socket.socket(socket.AF_UNIX)
    client.connect(sock_path)
    listener.close()
    return pid, client


def answer(client):
    with client, client.makefile("rwb") as f:
        json.loads(f.readline())
        for cmd in ("qmp_capabilities", "query-status"):
            f.write(json.dumps({"execute": cmd}).encode() + b"\n")
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if "return" in msg or "error" in msg:
                    break
    return msg


def raw_round(argvs, scratch):
    t0 = time.perf_counter()
    spawned = [spawn_raw(argv, str(Path(scratch) / f"q{i}.sock")) for i, argv in enumerate(argvs)]
    with ThreadPoolExecutor(len(spawned)) as pool:
        answers = list(pool.map(lambda s: answer(s[1]), spawned))
    ms = (time.perf_counter() - t0) * 1000
    for pid, _ in spawned:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert all("return" in a for a in answers), answers
    return ms


def maqet_round(home, names):
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    t0 = time.perf_counter()
    pids = [os.posix_spawn(str(benchlib.MAQET), home.argv("start", n), home.env, file_actions=actions)
            for n in names]
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    ms = (time.perf_counter() - t0) * 1000
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: home.run("stop", n, "--force"), names))
    assert codes == [0] * len(names), codes
    return ms


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    bench = benchlib.Bench("concurrent_starts")
    home = benchlib.Home()
    try:
        names = [f"c{i:02}" for i in range(count)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: home.add_config(n, benchlib.no_os_config(n, "32M")), names))
        scratch = tempfile.mkdtemp(prefix="maqet-raw-")
        home.cleanup_dirs.append(scratch)
        argvs = []
        for i, n in enumerate(names):
            sub = Path(scratch) / str(i)
            sub.mkdir()
            argvs.append(raw_argv(home.json("info", n), home, str(sub)))
        maqet_round(home, names)  # warm-up
        raw_round(argvs, scratch)
        maqet_ms, raw_ms = [], []
        for i in range(rounds):
            for side in ("maqet", "raw") if i % 2 == 0 else ("raw", "maqet"):
                if side == "maqet":
                    maqet_ms.append(maqet_round(home, names))
                else:
                    raw_ms.append(raw_round(argvs, scratch))
            print(f"round {i + 1}: maqet {maqet_ms[-1]:.0f} ms, raw {raw_ms[-1]:.0f} ms", flush=True)
        ratio = statistics.median(maqet_ms) / statistics.median(raw_ms)
        print(f"{count} x maqet start: {benchlib.med_min(maqet_ms)}")
        print(f"{count} x raw QEMU:    {benchlib.med_min(raw_ms)}")
        bench.figure(f"{count} VMs started at once, all ready ({rounds} interleaved rounds)",
                     f"≤ {TARGET_RATIO}× {count} raw QEMUs",
                     f"**{ratio:.2f}×**: maqet {benchlib.med_min(maqet_ms)}; raw {benchlib.med_min(raw_ms)}",
                     ratio <= TARGET_RATIO)
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()
        bench.close()


if __name__ == "__main__":
    main()
