"""`maqet qmp VM query-status` end to end, and a runner's memory (issue B §8).

Starts a no-OS VM (-m 64M, TCG) in a throw-away home, then:
- times `maqet qmp VM query-status` (a whole CLI process: parse, DB read, connect to the
  runner's qmp.sock, QMP round trip, print) with hyperfine when installed, else Python timing;
  also a raw QMP round trip on qmp.sock for comparison (connect + greeting + capabilities +
  query-status);
- reads the runner's PSS and RSS from /proc/PID/smaps_rollup, idle and after the queries.
Usage: qmp_latency.sh [RUNS]   (default 100; targets: median <= 5 ms, runner PSS <= 4 MiB)
"""

import statistics
import sys
from pathlib import Path

import benchlib

TARGET_MS = 5.0
TARGET_PSS_KIB = 4 * 1024


def runner_memory(pid):
    m = benchlib.smaps_rollup(pid)
    return f"PSS {m['Pss']} KiB, RSS {m['Rss']} KiB (private {m.get('Private_Clean', 0) + m.get('Private_Dirty', 0)} KiB)", m["Pss"]


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    home = benchlib.Home()
    try:
        home.add_config("bench", benchlib.no_os_config("bench"))
        started = home.json("start", "bench")
        runner_pid = started["runner_pid"]
        socket = Path(started["socket_path"])
        idle, _ = runner_memory(runner_pid)

        argv = home.argv("qmp", "bench", "query-status")
        measured = benchlib.hyperfine_median_ms(argv, runs, home.env)
        if measured is not None:
            median, result = measured
            how = f"hyperfine -N, {runs} runs, 3 warm-up"
            cli = (f"median {median:.2f} ms (mean {result['mean'] * 1000:.2f} ± "
                   f"{result['stddev'] * 1000:.2f}, min {result['min'] * 1000:.2f}, "
                   f"max {result['max'] * 1000:.2f})")
        else:
            times = benchlib.time_runs(lambda: home.run("qmp", "bench", "query-status"), runs)
            median, how, cli = statistics.median(times), f"Python timing, {runs} runs", benchlib.summary(times)
        raw = benchlib.time_runs(lambda: benchlib.qmp_query_status(socket), runs)
        busy, pss = runner_memory(runner_pid)

        print(f"maqet qmp VM query-status ({how}): {cli}")
        print(f"  target <= {TARGET_MS} ms: {'PASS' if median <= TARGET_MS else 'FAIL'}")
        print(f"raw QMP round trip on qmp.sock (connect..answer, Python): {benchlib.summary(raw)}")
        print(f"runner {runner_pid} idle after start: {idle}")
        print(f"runner after {2 * runs + 3} client sessions: {busy}")
        print(f"  target PSS <= {TARGET_PSS_KIB} KiB: {'PASS' if pss <= TARGET_PSS_KIB else 'FAIL'}")
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()


if __name__ == "__main__":
    main()
