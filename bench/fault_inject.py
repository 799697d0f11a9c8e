"""Fault injection (issue L §8): kill -9 the runner, QEMU or the CLI at random moments of
start, stop and snapshot, for a while, and check after every fault that

  - no VM ever has more than one QEMU,
  - the state `maqet ls` reports agrees with the processes (running/paused exactly when one
    QEMU runs, with that PID),
  - no data file is lost (each VM's disk passes `qemu-img check`, leaked clusters allowed,
    and its vm.json exists).

One `maqet ls` after each fault is allowed to reconcile (re-adopt, record what it finds); it
is the first command a user would run. A mismatch is counted, printed, and then repaired with
`maqet stop --force` so the run goes on.

Uses the debug build by default ($CARGO_TARGET_DIR or <repo>/target, `debug/`), because only
debug builds honour MAQET_TEST_CRASH_AT (the runner kills itself at a named step of start-up),
one of the faults. Override with $MAQET_BIN / $MAQET_RUNNER. Not run in CI.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
MAQET = Path(os.environ.get("MAQET_BIN") or TARGET / "debug" / "maqet")
RUNNER = Path(os.environ.get("MAQET_RUNNER") or TARGET / "debug" / "maqet-runner")
CRASH_STEPS = ["before-spawn", "after-spawn", "before-ready", "after-ready"]
CONFIG = """name: {name}
binary: qemu-system-x86_64
accel: tcg
display: none
memory: 64M
storage:
  - name: hdd
    type: qcow2
    size: 16M
"""


def cmdline(pid):
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def processes(program):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            args = cmdline(int(entry))
            if args and os.path.basename(args[0]) == program and alive(int(entry)):
                out.append((int(entry), args))
    return out


class Home:
    def __init__(self, vms):
        self.root = Path(tempfile.mkdtemp(prefix="maqet-fault-"))
        for sub in ("data", "config", "runtime", "xdg"):
            (self.root / sub).mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MAQET_")}
        self.env.update(MAQET_RUNNER=str(RUNNER), HOME=str(self.root / "xdg"),
                        XDG_RUNTIME_DIR=str(self.root / "xdg"))
        self.vms = {}
        for i in range(vms):
            name = f"f{i}"
            path = self.root / f"{name}.yaml"
            path.write_text(CONFIG.format(name=name))
            vm_id = self.run("add", str(path)).stdout.strip().splitlines()[-1]
            self.vms[name] = vm_id

    def argv(self, *args):
        return [str(MAQET), "--maqet-data-dir", str(self.root / "data"),
                "--maqet-config-dir", str(self.root / "config"),
                "--maqet-runtime-dir", str(self.root / "runtime"), *args]

    def run(self, *args, env=None, timeout=180):
        return subprocess.run(self.argv(*args), env=env or self.env, capture_output=True,
                              text=True, timeout=timeout)

    def popen(self, *args, env=None):
        return subprocess.Popen(self.argv(*args), env=env or self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def runtime_dir(self, name):
        return self.root / "runtime" / "vms" / self.vms[name]

    def data_dir(self, name):
        return self.root / "data" / "vms" / self.vms[name]

    def qemus(self, name):
        needle = str(self.runtime_dir(name)) + "/"
        return [pid for pid, args in processes("qemu-system-x86_64")
                if any(needle in a for a in args)]

    def runners(self, name):
        return [pid for pid, args in processes("maqet-runner")
                if len(args) > 2 and args[2] == self.vms[name]]

    def close(self):
        for program in ("qemu-system-x86_64", "maqet-runner"):
            for pid, args in processes(program):
                if any(str(self.root) in a for a in args):
                    try:
                        os.kill(pid, 9)
                    except OSError:
                        pass
        shutil.rmtree(self.root, ignore_errors=True)


def kill(pids):
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def check(home, name, stats, context):
    """Invariants for one VM after a fault; returns a list of problems."""
    problems = []
    qemus = home.qemus(name)
    stats["max_qemus_per_vm"] = max(stats["max_qemus_per_vm"], len(qemus))
    if len(qemus) > 1:
        stats["doubled_qemus"] += 1
        problems.append(f"{len(qemus)} QEMUs: {qemus}")
    rows = home.run("ls", "--format", "json")
    if rows.returncode != 0:
        problems.append(f"ls failed: {rows.stderr.strip()}")
    else:
        row = next((r for r in json.loads(rows.stdout) if r["name"] == name), None)
        live = row is not None and row["status"] in ("running", "paused")
        qemus = home.qemus(name)
        if row is None:
            problems.append("missing from ls")
        elif live != bool(qemus) or (qemus and row.get("pid") != qemus[0]):
            stats["state_mismatches"] += 1
            problems.append(f"ls says {row['status']} pid {row.get('pid')}, QEMUs {qemus}")
    disk = home.data_dir(name) / "hdd.qcow2"
    record = home.data_dir(name) / "vm.json"
    lost = [p for p in (record,) if not p.exists()]
    if disk.exists():
        # A killed CLI leaves its qemu-img child running: judge the image once it is done.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
                str(disk) in " ".join(args) for _, args in processes("qemu-img")):
            time.sleep(0.1)
        ok = subprocess.run(["qemu-img", "check", "-U", str(disk)], capture_output=True)
        # 0: clean; 3: only leaked clusters (wasted space after a killed writer, no harm to data).
        if ok.returncode not in (0, 3):
            lost.append(disk)
            tail = ok.stdout.decode(errors="replace").strip().splitlines()[-3:]
            problems.append(f"qemu-img check exit {ok.returncode}: {' / '.join(tail)}")
    elif stats["started"].get(name):
        lost.append(disk)
    if lost:
        stats["lost_files"] += len(lost)
        problems.append(f"lost or damaged: {', '.join(map(str, lost))}")
    if problems:
        print(f"  MISMATCH after {context}: {name}: {'; '.join(problems)}", flush=True)
        home.run("stop", "--force", name)
    return problems


def one_round(home, rng, stats):
    name = rng.choice(list(home.vms))
    running = bool(home.qemus(name))
    action = rng.choice(["start", "stop", "snapshot"] if running else ["start", "start", "snapshot"])
    target = rng.choice(["runner", "qemu", "cli", "crash-hook"] if action == "start"
                        else ["runner", "qemu", "cli"])
    env = None
    if action == "start":
        args = ["start", name]
        if target == "crash-hook":
            env = dict(home.env, MAQET_TEST_CRASH_AT=rng.choice(CRASH_STEPS))
    elif action == "stop":
        args = ["stop", name, "--force"]
    else:
        live = ["--live"] if running else []
        args = ["snapshot", name, "create", "hdd", f"s{stats['rounds']}", *live]
    proc = home.popen(*args, env=env)
    time.sleep(rng.uniform(0.0, 1.2))
    if target == "runner":
        kill(home.runners(name))
    elif target == "qemu":
        kill(home.qemus(name))
    elif target == "cli":
        proc.kill()
    try:
        proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if action == "start":
        stats["started"][name] = True
    key = f"{action}/{target}"
    stats["faults"][key] = stats["faults"].get(key, 0) + 1
    stats["rounds"] += 1
    problems = check(home, name, stats, key)
    if problems:
        stats["rounds_with_problems"] += 1


def main():
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--vms", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    opts = parser.parse_args()
    for path in (MAQET, RUNNER):
        if not path.is_file():
            sys.exit(f"{path} not found: run `cargo build -p maqet-cli -p maqet-runner`")
    seed = opts.seed if opts.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    stats = {"rounds": 0, "faults": {}, "max_qemus_per_vm": 0, "doubled_qemus": 0,
             "state_mismatches": 0, "lost_files": 0, "rounds_with_problems": 0, "started": {}}
    home = Home(opts.vms)
    print(f"fault injection: {opts.vms} VMs, {opts.minutes} min, seed {seed}, {MAQET}", flush=True)
    deadline = time.monotonic() + opts.minutes * 60
    try:
        while time.monotonic() < deadline:
            one_round(home, rng, stats)
        for name in home.vms:
            home.run("stop", "--force", name)
            check(home, name, stats, "final stop")
        doctor = home.run("doctor", "--format", "json")
        healthy = doctor.returncode == 0 and json.loads(doctor.stdout)["healthy"]
    finally:
        home.close()
    stats.pop("started")
    stats["doctor_healthy_at_end"] = healthy
    print(json.dumps(stats, indent=2))
    ok = stats["doubled_qemus"] == 0 and stats["state_mismatches"] == 0 and stats["lost_files"] == 0
    print("PASS: 0 doubled QEMUs, 0 state mismatches, 0 lost files" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
