"""`maqet start` to ready vs raw QEMU with the same argv to its first QMP answer (issue B §8).

Each round runs both, interleaved: `maqet start VM` (returns once QMP answers through the
runner), then `maqet stop --force`; and QEMU started directly with the argv that
`maqet info VM --format json` reports (`qemu_argv`, socket and log paths moved to a scratch
dir), timed until its own QMP socket answers `query-status`, then killed. The VM has no OS
(-m 64M, TCG) so guest boot does not hide the overhead. Prints medians and their ratio.
Usage: start_vs_qemu.sh [ROUNDS]   (default 15; target ratio <= 1.15)
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

TARGET_RATIO = 1.15


def raw_argv(info, home, scratch):
    """maqet's argv with the VM's runtime and data dirs replaced by `scratch`."""
    runtime_dir = str(home.root / "runtime" / "vms" / info["vm_id"])
    data_dir = str(info["data_dir"])
    argv = [a.replace(runtime_dir, scratch).replace(data_dir, scratch) for a in info["qemu_argv"]]
    qmp = argv[argv.index("-qmp") + 1]
    assert qmp.startswith("unix:"), qmp
    return argv, Path(qmp[len("unix:"):].split(",")[0])


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    home = benchlib.Home()
    try:
        home.add_config("bench", benchlib.no_os_config("bench"))
        info = home.json("info", "bench")
        scratch = tempfile.mkdtemp(prefix="maqet-raw-")
        argv, qmp_socket = raw_argv(info, home, scratch)
        print("raw argv:", " ".join(argv))
        maqet_ms, raw_ms = [], []
        for i in range(rounds):
            t0 = time.perf_counter()
            home.run("start", "bench")
            maqet_ms.append((time.perf_counter() - t0) * 1000)
            home.run("stop", "bench", "--force")

            qmp_socket.unlink(missing_ok=True)
            t0 = time.perf_counter()
            qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            answer = benchlib.qmp_query_status(qmp_socket)
            raw_ms.append((time.perf_counter() - t0) * 1000)
            assert answer.get("return", {}).get("status") in ("running", "prelaunch"), answer
            qemu.kill()
            qemu.wait()
            print(f"round {i + 1}: maqet {maqet_ms[-1]:.1f} ms, raw {raw_ms[-1]:.1f} ms", flush=True)
        ratio = statistics.median(maqet_ms) / statistics.median(raw_ms)
        print(f"maqet start: {benchlib.summary(maqet_ms)}")
        print(f"raw QEMU:    {benchlib.summary(raw_ms)}")
        print(f"ratio of medians: {ratio:.3f} (target <= {TARGET_RATIO}) "
              f"{'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()


if __name__ == "__main__":
    main()
