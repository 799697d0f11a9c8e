"""`maqet ls` with 1,000 and 10,000 registered VMs, with 50 of 1,000 running, and `--version`
(issues A §8, J).

Registers VMs (no OS, `maqet add` with a config file, 4 processes at a time) in a throw-away
home, checks that `ls` lists them all, then times `maqet ls` (and `--format json`) and
`maqet --version`, each a whole CLI process (posix_spawn + wait, output to /dev/null; 3
warm-up runs), interleaved with `--version` so both see the same machine. The "running" case
starts 50 of the 1,000 VMs and pauses them (QMP `stop`), so that 50 spinning TCG vCPUs do not
compete with the measurement; `ls` still checks each one's processes.
Usage: ls_1000.sh [RUNS] [--no-10k] [--no-running]
       (default 50 runs; targets: 1,000 <= 3 ms, 10,000 <= 15 ms, 1,000 with 50 running <= 5 ms)
"""

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import benchlib

TARGET_LS_1000_MS = 3.0
TARGET_LS_10000_MS = 15.0
TARGET_LS_RUNNING_MS = 5.0
TARGET_VERSION_MS = 2.0
RUNNING = 50


def register(home, first, count):
    t0 = time.perf_counter()
    names = [f"vm{i:05}" for i in range(first, first + count)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: home.add_config(n, benchlib.no_os_config(n, "32M")), names))
    print(f"registered {count} VMs in {time.perf_counter() - t0:.1f} s", flush=True)
    return names


def interleaved(home, cases, runs):
    """{label: [ms]} with the cases' commands run round-robin."""
    argvs = {label: argv for label, argv in cases}
    for argv in argvs.values():
        for _ in range(3):
            benchlib.spawn_ms(argv, home.env)
    times = {label: [] for label in argvs}
    for _ in range(runs):
        for label, argv in argvs.items():
            times[label].append(benchlib.spawn_ms(argv, home.env))
    return times


def report(bench, label, times, target):
    median = statistics.median(times)
    print(f"{label}: {benchlib.med_min(times)}; target <= {target} ms", flush=True)
    bench.figure(label, f"≤ {target:g} ms", f"**{median:.2f} ms** (min {min(times):.2f}, n {len(times)})",
                 median <= target)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    runs = int(args[0]) if args else 50
    bench = benchlib.Bench("ls")
    home = benchlib.Home()
    version = [str(benchlib.MAQET), "--version"]
    try:
        names = register(home, 0, 1000)
        assert len(home.json("ls")) == 1000
        times = interleaved(home, [
            ("ls", home.argv("ls")),
            ("ls json", home.argv("ls", "--format", "json")),
            ("version", version),
        ], runs)
        report(bench, "`maqet ls`, 1,000 registered VMs, none running", times["ls"], TARGET_LS_1000_MS)
        report(bench, "`maqet ls --format json`, 1,000 VMs", times["ls json"], TARGET_LS_1000_MS)
        report(bench, "`maqet --version` (process start alone)", times["version"], TARGET_VERSION_MS)

        if "--no-running" not in sys.argv:
            running = names[:RUNNING]
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda n: home.run("start", n), running))
                list(pool.map(lambda n: home.run("qmp", n, "stop"), running))
            listed = home.json("ls")
            live = [r for r in listed if r.get("pid")]
            assert len(live) == RUNNING, f"{len(live)} VMs have a QEMU, expected {RUNNING}"
            times = interleaved(home, [("ls", home.argv("ls")), ("version", version)], runs)
            report(bench, f"`maqet ls`, 1,000 VMs of which {RUNNING} running (paused)", times["ls"],
                   TARGET_LS_RUNNING_MS)
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda n: home.run("stop", n, "--force"), running))

        if "--no-10k" not in sys.argv:
            register(home, 1000, 9000)
            assert len(home.json("ls")) == 10000
            times = interleaved(home, [("ls", home.argv("ls")), ("version", version)], runs)
            report(bench, "`maqet ls`, 10,000 registered VMs, none running", times["ls"],
                   TARGET_LS_10000_MS)
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()
        bench.close()


if __name__ == "__main__":
    main()
