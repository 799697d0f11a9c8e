"""`maqet qmp VM query-status` end to end, and an idle runner's memory and wake-ups (issues B §8, J).

Starts a no-OS VM (-m 64M, TCG) in a throw-away home, then:
- reads the idle runner's PSS and RSS (/proc/PID/smaps_rollup) and counts its wake-ups (context
  switches of all its threads, /proc/PID/task/*/status) over IDLE seconds with no client;
- times `maqet qmp VM query-status` (a whole CLI process: parse, DB read, connect to the
  runner's qmp.sock, QMP round trip, print; posix_spawn + wait, 3 warm-up runs), interleaved
  with `maqet --version` (the process start alone) and a raw QMP round trip on qmp.sock
  (connect + greeting + capabilities + query-status, from Python);
- reads the runner's PSS again after those client sessions.
Usage: qmp_latency.sh [RUNS] [IDLE]   (default 100 runs, 10 s; targets: median <= 2.5 ms,
       runner PSS <= 4 MiB, 0 idle wake-ups per second)
"""

import statistics
import sys
import time
from pathlib import Path

import benchlib

TARGET_MS = 2.5
TARGET_PSS_KIB = 4 * 1024


def switches(pid):
    """Context switches (voluntary + involuntary) of every thread of `pid`."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if "ctxt_switches:" in line:
                total += int(line.split()[1])
    return total


def main():
    args = sys.argv[1:]
    runs = int(args[0]) if args else 100
    idle_s = float(args[1]) if len(args) > 1 else 10.0
    bench = benchlib.Bench("qmp_latency")
    home = benchlib.Home()
    try:
        home.add_config("bench", benchlib.no_os_config("bench"))
        started = home.json("start", "bench")
        runner = started["runner_pid"]
        socket = Path(started["socket_path"])
        time.sleep(1.0)  # let start-up work (log lines, DB writes) finish
        before = switches(runner)
        time.sleep(idle_s)
        wakeups = (switches(runner) - before) / idle_s
        idle = benchlib.smaps_rollup(runner)

        qmp = home.argv("qmp", "bench", "query-status")
        version = [str(benchlib.MAQET), "--version"]
        for _ in range(3):
            benchlib.spawn_ms(qmp, home.env)
        cli, ver, raw = [], [], []
        for _ in range(runs):
            cli.append(benchlib.spawn_ms(qmp, home.env))
            ver.append(benchlib.spawn_ms(version, home.env))
            t0 = time.perf_counter()
            benchlib.qmp_query_status_at(socket)
            raw.append((time.perf_counter() - t0) * 1000)
        busy = benchlib.smaps_rollup(runner)

        median = statistics.median(cli)
        print(f"maqet qmp VM query-status: {benchlib.med_min(cli)}")
        print(f"maqet --version:           {benchlib.med_min(ver)}")
        print(f"raw QMP on qmp.sock:       {benchlib.med_min(raw)}")
        print(f"runner {runner}: idle PSS {idle['Pss']} KiB RSS {idle['Rss']} KiB; after "
              f"{2 * runs + 3} sessions PSS {busy['Pss']} KiB RSS {busy['Rss']} KiB; "
              f"idle wake-ups {wakeups:.2f}/s over {idle_s:g} s")
        bench.figure("`maqet qmp VM query-status` end to end",
                     f"≤ {TARGET_MS} ms median",
                     f"**{median:.2f} ms** (min {min(cli):.2f}, n {runs}); `--version` "
                     f"{statistics.median(ver):.2f} ms; raw QMP round trip on qmp.sock "
                     f"{statistics.median(raw):.2f} ms",
                     median <= TARGET_MS)
        pss = max(idle["Pss"], busy["Pss"])
        bench.figure("Runner memory with a running VM (smaps_rollup)", "≤ 4 MiB PSS",
                     f"**PSS {idle['Pss']} KiB** idle (RSS {idle['Rss']}); {busy['Pss']} KiB "
                     f"after {2 * runs + 3} client sessions", pss <= TARGET_PSS_KIB)
        bench.figure("Idle runner wake-ups (context switches of all its threads, no client)",
                     "0 per second", f"**{wakeups:.2f}/s** over {idle_s:g} s", wakeups == 0)
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()
        bench.close()


if __name__ == "__main__":
    main()
