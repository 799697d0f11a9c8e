"""Fault injection (issue L §8): kill -9 the runner, QEMU or the CLI at random moments of
start, stop and snapshot, for a while, and check after every fault that

  - no VM ever has more than one QEMU,
  - the state `maqet ls` reports agrees with the processes (running/paused exactly when one
    QEMU runs, with that PID),
  - no data file is lost (each VM's disk passes `qemu-img check`, leaked clusters allowed,
    and its vm.json exists).

Then (issue P, `--agent-rounds`, default 6) it boots the test guest (qemu-ga, TCG) with
`guest_agent: true` and kills the CLI or the runner in the middle of `maqet cp` (in and out,
8 MiB) and `maqet exec`, and checks after every fault that nothing is left behind (no stray
CLI, exactly one runner and one QEMU, no temporary or partial file next to a host destination)
and that the VM is still usable (`wait --agent`, then `exec -- echo ok`).

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

import benchlib

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


GUEST_CONFIG = """name: {name}
binary: qemu-system-x86_64
memory: 256M
cpu: 1
accel: tcg
display: none
guest_agent: true
arguments:
  - kernel: {kernel}
  - initrd: {initrd}
  - append: "console=ttyS0 panic=-1 quiet"
  - no-reboot: null
"""
AGENT_PAYLOAD_MIB = 8


def agent_usable(home, name):
    """Problems with using the VM's agent after a fault (empty when `exec -- echo ok` works)."""
    home.run("ls", "--format", "json")
    waited = home.run("wait", name, "--agent", "--timeout", "120")
    if waited.returncode != 0:
        return [f"wait --agent failed: {waited.stderr.strip()}"]
    done = home.run("exec", name, "--timeout", "60", "--", "echo", "ok")
    if done.returncode != 0 or done.stdout.strip() != "ok":
        return [f"exec -- echo ok gave {done.returncode}: {done.stdout!r} {done.stderr.strip()}"]
    return []


def agent_round(home, name, rng, stats, scratch):
    """Kills the CLI or the runner during a cp or an exec; checks what is left."""
    n = stats["agent_rounds"]
    action = rng.choice(["cp-in", "cp-out", "exec"])
    target = rng.choice(["cli", "runner"])
    dest = scratch / f"out{n}.bin"
    if action == "cp-in":
        args = ["cp", str(scratch / "payload.bin"), f"{name}:/tmp/in{n}.bin"]
    elif action == "cp-out":
        args = ["cp", f"{name}:/tmp/src.bin", str(dest)]
    else:
        args = ["exec", name, "--timeout", "60", "--", "sh", "-c", "sleep 1; echo done"]
    before = set(scratch.iterdir())
    proc = home.popen(*args)
    time.sleep(rng.uniform(0.05, 1.5))
    if target == "runner":
        kill(home.runners(name))
    else:
        proc.kill()
    try:
        proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    key = f"{action}/{target}"
    stats["agent_faults"][key] = stats["agent_faults"].get(key, 0) + 1
    stats["agent_rounds"] += 1
    problems = agent_usable(home, name)
    if problems:
        stats["agent_unusable"] += 1
    # A finished copy may leave its destination; anything else new is a leftover.
    left = [p for p in set(scratch.iterdir()) - before if p != dest]
    if dest.exists() and dest.stat().st_size not in (0, AGENT_PAYLOAD_MIB << 20):
        left.append(dest)
    if left:
        stats["agent_leftovers"] += len(left)
        problems.append(f"left behind: {', '.join(p.name for p in left)}")
        for path in left:
            path.unlink(missing_ok=True)
    stray = [pid for pid, args in processes("maqet") if str(home.root) in " ".join(args)]
    runners, qemus = home.runners(name), home.qemus(name)
    if stray or len(runners) != 1 or len(qemus) != 1:
        stats["agent_stray_processes"] += 1
        problems.append(f"CLIs {stray}, runners {runners}, QEMUs {qemus}")
    if problems:
        print(f"  MISMATCH after {key}: {'; '.join(problems)}", flush=True)
    else:
        print(f"  {key}: clean, VM usable", flush=True)


def agent_phase(home, rounds, rng, stats):
    """Boots the test guest and runs `rounds` cp/exec faults against it."""
    kernel, initrd = benchlib.test_guest()
    path = home.root / "guest.yaml"
    path.write_text(GUEST_CONFIG.format(name="g", kernel=kernel, initrd=initrd))
    home.vms["g"] = home.run("add", str(path)).stdout.strip().splitlines()[-1]
    scratch = home.root / "scratch"
    scratch.mkdir()
    (scratch / "payload.bin").write_bytes(os.urandom(AGENT_PAYLOAD_MIB << 20))
    home.run("start", "g")
    home.run("wait", "g", "--agent", "--timeout", "300")
    made = home.run("exec", "g", "--", "sh", "-c",
                    f"head -c {AGENT_PAYLOAD_MIB << 20} /dev/urandom > /tmp/src.bin")
    if made.returncode != 0:
        sys.exit(f"cannot prepare the guest: {made.stderr}")
    print(f"agent faults: {rounds} rounds on the test guest", flush=True)
    for _ in range(rounds):
        agent_round(home, "g", rng, stats, scratch)
    home.run("stop", "--force", "g")
    del home.vms["g"]


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
    parser.add_argument("--agent-rounds", type=int, default=6,
                        help="cp/exec faults on the test guest after the other rounds (0: none)")
    opts = parser.parse_args()
    for path in (MAQET, RUNNER):
        if not path.is_file():
            sys.exit(f"{path} not found: run `cargo build -p maqet-cli -p maqet-runner`")
    seed = opts.seed if opts.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    stats = {"rounds": 0, "faults": {}, "max_qemus_per_vm": 0, "doubled_qemus": 0,
             "state_mismatches": 0, "lost_files": 0, "rounds_with_problems": 0, "started": {},
             "agent_rounds": 0, "agent_faults": {}, "agent_unusable": 0, "agent_leftovers": 0,
             "agent_stray_processes": 0}
    home = Home(opts.vms)
    print(f"fault injection: {opts.vms} VMs, {opts.minutes} min, seed {seed}, {MAQET}", flush=True)
    deadline = time.monotonic() + opts.minutes * 60
    try:
        while time.monotonic() < deadline:
            one_round(home, rng, stats)
        for name in home.vms:
            home.run("stop", "--force", name)
            check(home, name, stats, "final stop")
        if opts.agent_rounds > 0:
            agent_phase(home, opts.agent_rounds, rng, stats)
        doctor = home.run("doctor", "--format", "json")
        healthy = doctor.returncode == 0 and json.loads(doctor.stdout)["healthy"]
    finally:
        home.close()
    stats.pop("started")
    stats["doctor_healthy_at_end"] = healthy
    print(json.dumps(stats, indent=2))
    ok = (stats["doubled_qemus"] == 0 and stats["state_mismatches"] == 0
          and stats["lost_files"] == 0 and stats["agent_unusable"] == 0
          and stats["agent_leftovers"] == 0 and stats["agent_stray_processes"] == 0)
    print("PASS: 0 doubled QEMUs, 0 state mismatches, 0 lost files; after cp/exec faults: "
          "0 unusable, 0 leftovers, 0 stray processes" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
