"""`maqet start` to ready vs raw QEMU with the same argv to its first QMP answer (issues B §8, J).

Each round runs both, interleaved, in alternating order: `maqet start VM` (returns once QMP
answers through the runner), then `maqet stop --force` (not timed); and QEMU started directly
with the argv that `maqet info VM --format json` reports (`qemu_argv`, data and runtime paths
moved to a scratch dir), timed from the spawn until its QMP answers `query-status`, then killed.
Both sides ask QEMU the same way: the runner writes `qmp_capabilities` and `query-status` back to
back without waiting for the greeting or the first answer, and so does the raw side
(`benchlib.qmp_query_status_pipelined_on`): ready costs each one QEMU round trip.
The raw QEMU gets the same inherited, already listening QMP socket that the runner hands its
QEMU (fd 3), so the raw side has no polling delay at all. Both sides are spawned the same way
(posix_spawn, output to /dev/null). The VM has no OS (-m 64M, TCG) so guest boot does not hide
the overhead. Prints median and min of each side and the ratio of medians.
Usage: start_vs_qemu.sh [ROUNDS]   (default 15; target ratio <= 1.10)
"""

import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchlib

TARGET_RATIO = 1.10
QMP_FD = 3


def raw_argv(info, home, scratch):
    """maqet's argv with the VM's runtime and data dirs replaced by `scratch`."""
    runtime_dir = str(home.root / "runtime" / "vms" / info["vm_id"])
    data_dir = str(info["data_dir"])
    return [a.replace(runtime_dir, scratch).replace(data_dir, scratch) for a in info["qemu_argv"]]


def raw_qemu_ms(argv, scratch):
    """Spawns QEMU with a listening QMP socket as fd 3; ms until query-status answers.

    QEMU gets a session of its own, as the runner's QEMU does (the runner calls setsid): with
    the scheduler's autogroups, a QEMU left in the benchmark's session would share one CPU
    share with everything else started from that shell."""
    path = Path(scratch) / "qemu-qmp.sock"
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(8)
    client = socket.socket(socket.AF_UNIX)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, listener.fileno(), QMP_FD),
    ]
    if listener.fileno() == QMP_FD:
        os.set_inheritable(QMP_FD, True)
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=actions, setsid=True)
    client.connect(str(path))
    listener.close()
    msg = benchlib.qmp_query_status_pipelined_on(client)
    ms = (time.perf_counter() - t0) * 1000
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    assert msg.get("return", {}).get("status") in ("running", "prelaunch"), msg
    return ms


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    bench = benchlib.Bench("start_vs_qemu")
    home = benchlib.Home()
    try:
        home.add_config("bench", benchlib.no_os_config("bench"))
        info = home.json("info", "bench")
        scratch = tempfile.mkdtemp(prefix="maqet-raw-")
        home.cleanup_dirs.append(scratch)
        argv = raw_argv(info, home, scratch)
        start = home.argv("start", "bench")
        print("raw argv:", " ".join(argv))
        # One untimed warm-up of each (page cache, first DB open).
        benchlib.spawn_ms(start, home.env)
        home.run("stop", "bench", "--force")
        raw_qemu_ms(argv, scratch)
        maqet_ms, raw_ms = [], []
        for i in range(rounds):
            for side in ("maqet", "raw") if i % 2 == 0 else ("raw", "maqet"):
                if side == "maqet":
                    maqet_ms.append(benchlib.spawn_ms(start, home.env))
                    home.run("stop", "bench", "--force")
                else:
                    raw_ms.append(raw_qemu_ms(argv, scratch))
            print(f"round {i + 1}: maqet {maqet_ms[-1]:.1f} ms, raw {raw_ms[-1]:.1f} ms", flush=True)
        ratio = statistics.median(maqet_ms) / statistics.median(raw_ms)
        print(f"maqet start: {benchlib.med_min(maqet_ms)}")
        print(f"raw QEMU:    {benchlib.med_min(raw_ms)}")
        print(f"ratio of medians: {ratio:.3f} (target <= {TARGET_RATIO})")
        bench.figure(
            f"`maqet start` to ready vs raw QEMU to its first QMP answer ({rounds} interleaved rounds)",
            f"≤ {TARGET_RATIO:.2f}×",
            f"**{ratio:.2f}×**: maqet {benchlib.med_min(maqet_ms)}; raw {benchlib.med_min(raw_ms)}",
            ratio <= TARGET_RATIO,
        )
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()
        bench.close()


if __name__ == "__main__":
    main()
