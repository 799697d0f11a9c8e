"""Where `maqet start` spends its time: a step table from one strace of the whole start (issue J).

Starts a no-OS VM (-m 64M, TCG) ROUNDS times under `strace -f --seccomp-bpf -ttt` (only the
syscalls that mark a step are traced, so the other syscalls run at full speed), takes the
median of each step's time since the CLI's exec, and prints a table: step, ms since exec, ms
since the step before. Tracing makes each traced call slower, so the absolute figures are a
little above an untraced start; the shape (which step costs what) is what the table is for.
Also counts the runner's connect() calls to QEMU's QMP socket (more than one means polling),
the fsync/fdatasync calls of the CLI and the runner per start, and, from one more start traced
in full (every syscall), the syscalls of each until the CLI exits: counts do not depend on the
machine's load, so they compare builds taken on a busy machine.
Usage: profile_start.sh [ROUNDS]   (default 7)
"""

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

TRACED = "execve,clone,clone3,fork,vfork,bind,connect,flock,openat,write,writev,sendto,sendmsg,exit_group,fsync,fdatasync"
SYNCS = ("fsync", "fdatasync")
LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(?:<\.\.\. )?(\w+)(.*)$")

# (label, role, syscall, text the call's arguments must contain); first match after the previous
# step wins.
STEPS = [
    ("CLI opens the state DB", "cli", "openat", "maqet.db"),
    ("CLI takes the VM lock", "cli", "flock", "LOCK_EX"),
    ("runner exec'd", "runner", "execve", "maqet-runner"),
    ("runner detached (fork)", "runner", "clone", ""),
    ("QEMU exec'd", "qemu", "execve", "qemu-system"),
    ("runner opens the state DB", "runner", "openat", "maqet.db"),
    ("QEMU sends its QMP greeting", "qemu", "*", '{\\"QMP\\"'),
    ("runner negotiates QMP (qmp_capabilities)", "runner", "*", "qmp_capabilities"),
    ("runner serves qmp.sock", "runner", "bind", "qmp.sock"),
    ("runner reports ready", "runner", "write", '\\"type\\":\\"ready\\"'),
    ("CLI exits", "cli", "exit_group", ""),
]


def parse(trace):
    """[(pid, t, syscall, rest)] and the role of each pid (cli, runner, qemu).

    A process or thread has its parent's role until it execs another program."""
    events, roles = [], {}
    for line in trace.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        pid, t, call, rest = int(m[1]), float(m[2]), m[3], m[4]
        events.append((pid, t, call, rest))
        if call == "execve" and "= -1" not in rest and '"' in rest:
            name = rest.split('"', 2)[1].rsplit("/", 1)[-1]
            if name == "maqet" and not roles:
                roles[pid] = "cli"
            elif name == "maqet-runner":
                roles[pid] = "runner"
            elif name.startswith("qemu-system"):
                roles[pid] = "qemu"
        elif call in ("clone", "clone3", "fork", "vfork") and pid in roles:
            child = re.search(r"= (\d+)\s*$", rest)
            if child:
                roles.setdefault(int(child[1]), roles[pid])
    return events, roles


def steps_of(trace):
    events, roles = parse(trace)
    t0 = next(t for pid, t, call, _ in events if roles.get(pid) == "cli")
    out, after = {}, t0
    for label, role, call, text in STEPS:
        for pid, t, c, rest in events:
            if t < after or roles.get(pid) != role:
                continue
            if call != "*" and not c.startswith(call):
                continue
            if text and text not in rest:
                continue
            if c == "execve" and "= -1" in rest:
                continue  # a PATH entry without the program
            out[label] = (t - t0) * 1000
            after = t
            break
    connects = sum(1 for pid, _, c, rest in events
                   if roles.get(pid) == "runner" and c == "connect" and "qemu-qmp.sock" in rest)
    return out, connects


def counts_of(trace, calls=None):
    """{role: number of syscalls} (only those in `calls` if given) from the CLI's exec to its exit."""
    events, roles = parse(trace)
    cli_exit = max((t for pid, t, c, _ in events if roles.get(pid) == "cli" and c == "exit_group"),
                   default=float("inf"))
    out = {"cli": 0, "runner": 0}
    for pid, t, c, rest in events:
        role = roles.get(pid)
        if rest.startswith(" resumed>"):
            continue  # the second half of a call strace showed as <unfinished ...>
        if role in out and t <= cli_exit and (calls is None or c in calls):
            out[role] += 1
    return out


def trace_start(home, out, traced=TRACED):
    """Runs `maqet start` under strace; stops the VM once the CLI has exited.

    strace follows the detached runner and QEMU too, so it ends only after `stop`."""
    out.unlink(missing_ok=True)
    only = ["--seccomp-bpf", "-e", f"trace={traced}"] if traced else []
    strace = subprocess.Popen(
        ["strace", "-f", "-ttt", "-s", "200", *only, "-o", str(out), *home.argv("start", "bench")],
        env=home.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = out.read_text() if out.exists() else ""
        first = text.split(None, 1)[0] if text else None
        if first and re.search(rf"^{first}\s.*\+\+\+ exited", text, re.M):
            break
        time.sleep(0.05)
    home.run("stop", "bench", "--force")
    strace.wait(timeout=60)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    bench = benchlib.Bench("profile_start")
    home = benchlib.Home()
    try:
        home.add_config("bench", benchlib.no_os_config("bench"))
        per_step, connects, syncs = {}, [], {"cli": [], "runner": []}
        with tempfile.TemporaryDirectory(prefix="maqet-strace-") as tmp:
            out = Path(tmp) / "trace"
            for _ in range(rounds + 1):
                trace_start(home, out)
                text = out.read_text()
                steps, n = steps_of(text)
                for role, count in counts_of(text, SYNCS).items():
                    syncs[role].append(count)
                if not per_step and not connects:  # first round: warm-up, dropped
                    connects.append(n)
                    per_step = {label: [] for label, *_ in STEPS}
                    continue
                connects.append(n)
                for label, ms in steps.items():
                    per_step[label].append(ms)
            trace_start(home, out, traced=None)
            total = counts_of(out.read_text())
        print(f"| Step (median of {rounds} traced starts) | ms since exec | ms since previous step |")
        print("|---|---|---|")
        previous = 0.0
        for label, *_ in STEPS:
            times = per_step.get(label) or []
            if not times:
                print(f"| {label} | (not seen) | |")
                continue
            ms = statistics.median(times)
            print(f"| {label} | {ms:.1f} | {ms - previous:.1f} |")
            previous = ms
        print(f"\nrunner connect() calls to qemu-qmp.sock per start: {statistics.median(connects[1:]):.0f}")
        print("fsync + fdatasync calls per start (median): "
              f"CLI {statistics.median(syncs['cli'][1:]):.0f}, "
              f"runner {statistics.median(syncs['runner'][1:]):.0f}")
        print(f"syscalls until the CLI exits (one start traced in full): "
              f"CLI {total['cli']}, runner {total['runner']}")
        print(f"machine: {benchlib.machine()}")
    finally:
        home.close()
        bench.close()


if __name__ == "__main__":
    main()
