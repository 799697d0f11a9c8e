"""Soak: many VMs started at once, queried by parallel clients, then stopped (issue E §7).

In a throw-away home: registers `--registered` VMs in all (default 1000; the extra ones are
`--empty`), starts `--vms` of them concurrently (no OS, `-m 32M`, TCG), runs `--clients`
threads that each call `maqet qmp VM query-status` (every 10th call `maqet status VM`) on the
VMs in turn for `--duration` seconds, then checks every VM still runs, sums the runners'
RSS/PSS (/proc/PID/smaps_rollup), times `maqet ls` with everything registered, stops all VMs
concurrently (`stop --force`) and checks that no QEMU or runner is left.
Every failed command counts (target 0). Nothing leaves this machine.
Usage: soak.sh [--vms 50] [--duration 180] [--clients 8] [--registered 1000] [--settle 5]
"""

import argparse
import itertools
import json
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import benchlib

TARGET_LS_MS = 10.0


def processes_mentioning(text):
    """PIDs of qemu-system-x86_64 / maqet-runner processes whose cmdline contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        prog = cmdline.split(b"\0", 1)[0].rsplit(b"/", 1)[-1]
        if prog in (b"qemu-system-x86_64", b"maqet-runner") and text.encode() in cmdline:
            found.append(int(entry.name))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=50)
    parser.add_argument("--duration", type=float, default=180.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--registered", type=int, default=1000)
    parser.add_argument("--memory", default="32M")
    parser.add_argument("--settle", type=float, default=5.0, help="pause before timing ls")
    opts = parser.parse_args()

    home = benchlib.Home(prefix="maqet-soak-")
    failures = []
    lock = threading.Lock()

    def failed(what, detail):
        with lock:
            failures.append(f"{what}: {detail.strip()[:300]}")

    try:
        names = [f"soak{i:03}" for i in range(opts.vms)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: home.add_config(n, benchlib.no_os_config(n, opts.memory)), names))
            list(pool.map(lambda i: home.run("add", "--name", f"pad{i:04}", "--empty"),
                          range(max(0, opts.registered - opts.vms))))
        print(f"registered {len(home.json('ls'))} VMs ({opts.vms} to run)", flush=True)

        def start(name):
            done = home.run("start", name, check=False)
            if done.returncode != 0:
                failed(f"start {name}", done.stderr)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(opts.vms) as pool:
            list(pool.map(start, names))
        print(f"started {opts.vms} VMs concurrently in {time.perf_counter() - t0:.1f} s", flush=True)

        counter = itertools.count()
        latencies = []
        deadline = time.monotonic() + opts.duration

        def client():
            mine = []
            while time.monotonic() < deadline:
                n = next(counter)
                name = names[n % len(names)]
                args = ("status", name) if n % 10 == 9 else ("qmp", name, "query-status")
                t = time.perf_counter()
                done = home.run(*args, "--format", "json", check=False)
                mine.append((time.perf_counter() - t) * 1000)
                if done.returncode != 0:
                    failed(" ".join(args), done.stderr)
                    continue
                state = json.loads(done.stdout).get("status")
                if state != "running":
                    failed(" ".join(args), f"status {state!r}")
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client) for _ in range(opts.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        calls = len(latencies)
        print(f"{calls} client calls by {opts.clients} clients in {opts.duration:.0f} s: "
              f"{benchlib.summary(latencies)}, p99 {statistics.quantiles(latencies, n=100)[98]:.1f} ms",
              flush=True)

        running = [r for r in home.json("ls") if r["status"] == "running"]
        if len(running) != opts.vms:
            failed("ls after soak", f"{len(running)} of {opts.vms} VMs running")
        runner_rss = runner_pss = qemu_rss = 0
        for name in names:
            st = home.json("status", name)
            if st.get("runner_pid"):
                m = benchlib.smaps_rollup(st["runner_pid"])
                runner_rss += m["Rss"]
                runner_pss += m["Pss"]
            if st.get("pid"):
                qemu_rss += benchlib.smaps_rollup(st["pid"])["Rss"]
        print(f"runners: total RSS {runner_rss / 1024:.1f} MiB, total PSS {runner_pss / 1024:.1f} MiB "
              f"({runner_pss / max(1, opts.vms):.0f} KiB PSS each); QEMUs: total RSS {qemu_rss / 1024:.0f} MiB")

        time.sleep(opts.settle)  # let the clients' load die down: ls is timed, not the soak
        measured = benchlib.hyperfine_median_ms(home.argv("ls"), 30, home.env)
        if measured is not None:
            ls_ms = measured[0]
        else:
            ls_ms = statistics.median(benchlib.time_runs(lambda: home.run("ls"), 30))
        print(f"maqet ls with {opts.registered} registered, {len(running)} running: median {ls_ms:.2f} ms "
              f"(target <= {TARGET_LS_MS} ms: {'PASS' if ls_ms <= TARGET_LS_MS else 'FAIL'})")

        def stop(name):
            done = home.run("stop", name, "--force", check=False)
            if done.returncode != 0:
                failed(f"stop {name}", done.stderr)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(opts.vms) as pool:
            list(pool.map(stop, names))
        print(f"stopped {opts.vms} VMs concurrently in {time.perf_counter() - t0:.1f} s")
        time.sleep(1)
        left = processes_mentioning(str(home.root))
        if left:
            failed("after stop", f"processes left: {left}")
        print(f"failures: {len(failures)} (target 0) {'PASS' if not failures else 'FAIL'}")
        for f in failures[:20]:
            print("  ", f)
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()


if __name__ == "__main__":
    main()
