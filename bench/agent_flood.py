"""The runner's memory under a hostile guest agent (issue P).

For each mode of the test guest's hostile agent (`maqet.evil_agent=MODE`, see the top of
tests/guest/build-guest.sh) -- `flood` (endless bytes, no JSON), `unterminated` (an endless
`{"return": "AAAA...`) and `huge` (a valid 64 MiB reply) -- boots the test guest (TCG, 256M) in a
throw-away home, waits for the agent, runs `maqet exec VM --timeout SECONDS -- true` once, and
reads the runner's VmHWM (peak resident memory) and VmRSS from /proc. Target: VmHWM < 64 MiB,
the bound docs/guest-agent.md states (one reply is capped at 48 MiB). The 1-minute load must be
below 1 for the figures to count (NOT COMPARABLE otherwise).
Usage: agent_flood.sh [SECONDS]   (default 30)
"""

import re
import sys
import time
from pathlib import Path

import benchlib

BOUND_MIB = 64
MODES = [("flood", []), ("unterminated", []), ("huge", ["maqet.evil_arg=64"])]


def config(name, kernel, initrd, mode, params):
    append = " ".join(["console=ttyS0 panic=-1 quiet", f"maqet.evil_agent={mode}", *params])
    return (
        f"name: {name}\nbinary: qemu-system-x86_64\nmemory: 256M\ncpu: 1\naccel: tcg\n"
        f"display: none\nguest_agent: true\narguments:\n"
        f"  - kernel: {kernel}\n  - initrd: {initrd}\n"
        f"  - append: \"{append}\"\n  - no-reboot: null\n"
    )


def status_kib(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


def one_mode(bench, kernel, initrd, mode, params, seconds):
    home = benchlib.Home()
    try:
        home.add_config("evil", config("evil", kernel, initrd, mode, params))
        home.run("start", "evil")
        home.run("wait", "evil", "--agent", "--timeout", "300")
        runner = home.json("status", "evil")["runner_pid"]
        before = status_kib(runner, "VmHWM:")
        t0 = time.monotonic()
        done = home.run("exec", "evil", "--timeout", str(seconds), "--", "true", check=False)
        took = time.monotonic() - t0
        peak = status_kib(runner, "VmHWM:")
        rss = status_kib(runner, "VmRSS:")
        sent = re.search(r"sent ([0-9.]+ MiB)", done.stderr)
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "(no error)"
        print(f"[{mode}] exit {done.returncode} after {took:.1f} s: {last}", flush=True)
        result = (f"VmHWM {peak / 1024:.1f} MiB (idle {before / 1024:.1f}), VmRSS after "
                  f"{rss / 1024:.1f} MiB, exec exit {done.returncode} in {took:.1f} s"
                  + (f", agent sent {sent.group(1)}" if sent else ""))
        bench.figure(f"runner peak memory, agent `{mode}`", f"VmHWM < {BOUND_MIB} MiB", result,
                     peak < BOUND_MIB * 1024 and done.returncode != 0)
    finally:
        home.close()


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    kernel, initrd = benchlib.test_guest()
    bench = benchlib.Bench("agent_flood")
    print(benchlib.machine(), flush=True)
    try:
        for mode, params in MODES:
            one_mode(bench, kernel, initrd, mode, params, seconds)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
