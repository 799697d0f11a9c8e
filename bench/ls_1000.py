"""`maqet ls` with 1,000 registered VMs and `maqet --version` (issue A §8).

Registers COUNT VMs (no OS, `maqet add` with a config file, 4 processes at a time) in a
throw-away home, checks that `ls` lists them all, then times `maqet ls` (table and
`--format json`) and `maqet --version` with hyperfine when installed, else Python timing.
Usage: ls_1000.sh [COUNT] [RUNS]   (defaults 1000 and 50; targets: ls <= 10 ms, --version <= 2 ms)
"""

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import benchlib

TARGET_LS_MS = 10.0
TARGET_VERSION_MS = 2.0


def measure(home, args, runs):
    argv = home.argv(*args) if args != ["--version"] else [str(benchlib.MAQET), "--version"]
    measured = benchlib.hyperfine_median_ms(argv, runs, home.env)
    if measured is not None:
        median, result = measured
        return median, (f"median {median:.2f} ms (mean {result['mean'] * 1000:.2f} ± "
                        f"{result['stddev'] * 1000:.2f}, min {result['min'] * 1000:.2f}, "
                        f"n {runs}, hyperfine -N)")
    times = benchlib.time_runs(lambda: home.run(*args), runs)
    return statistics.median(times), benchlib.summary(times) + " (Python timing)"


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    home = benchlib.Home()
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: home.add_config(f"vm{i:04}", benchlib.no_os_config(f"vm{i:04}")),
                          range(count)))
        print(f"registered {count} VMs in {time.perf_counter() - t0:.1f} s")
        listed = home.json("ls")
        assert len(listed) == count, f"ls lists {len(listed)} VMs, expected {count}"

        results = [
            ("maqet ls", ["ls"], TARGET_LS_MS),
            ("maqet ls --format json", ["ls", "--format", "json"], TARGET_LS_MS),
            ("maqet --version", ["--version"], TARGET_VERSION_MS),
        ]
        for label, args, target in results:
            median, text = measure(home, args, runs)
            verdict = "PASS" if median <= target else "FAIL"
            print(f"{label} ({count} VMs): {text}; target <= {target} ms: {verdict}")
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()


if __name__ == "__main__":
    main()
