"""Shared helpers for maqet's hand-run benchmarks (bench/*.sh): binaries, throw-away homes, timing.

Nothing here is used by CI. Binaries: $MAQET_BIN and $MAQET_RUNNER, else the release build in
$CARGO_TARGET_DIR (default: <repo>/target). Build it with
`cargo build --release -p maqet-cli -p maqet-runner`.

Honesty rules every script follows through [`Bench`]: the load average is printed before and
after; a run that starts with a 1-minute load above 1.0 is marked NOT COMPARABLE; compared
commands run interleaved; figures report median and min; every figure prints one
`FIGURE<TAB>name<TAB>target<TAB>result<TAB>verdict` line that bench/run-all.sh collects.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def binary(env_var, name):
    """Path of a maqet binary: the env override, else the release build."""
    if os.environ.get(env_var):
        return Path(os.environ[env_var])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    path = target / "release" / name
    if not path.is_file():
        sys.exit(
            f"{path} not found: run `cargo build --release -p maqet-cli -p maqet-runner` "
            f"(or set {env_var})"
        )
    return path


MAQET = binary("MAQET_BIN", "maqet")
RUNNER = binary("MAQET_RUNNER", "maqet-runner")


class Home:
    """A throw-away maqet home (data, config, runtime dirs) in /tmp; `close()` stops and removes it."""

    def __init__(self, prefix="maqet-bench-"):
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.cleanup_dirs = []  # more scratch dirs that close() removes
        for sub in ("data", "config", "runtime", "configs", "xdg"):
            (self.root / sub).mkdir()
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("MAQET_")
        }
        self.env.update(
            MAQET_RUNNER=str(RUNNER),
            HOME=str(self.root / "xdg"),
            XDG_CONFIG_HOME=str(self.root / "xdg"),
            XDG_DATA_HOME=str(self.root / "xdg"),
            XDG_RUNTIME_DIR=str(self.root / "xdg"),
        )

    def argv(self, *args):
        """The full argv of `maqet ARGS` against this home."""
        return [
            str(MAQET),
            "--maqet-data-dir", str(self.root / "data"),
            "--maqet-config-dir", str(self.root / "config"),
            "--maqet-runtime-dir", str(self.root / "runtime"),
            *map(str, args),
        ]

    def run(self, *args, check=True):
        """Runs `maqet ARGS`; returns the CompletedProcess (stdout/stderr as text)."""
        done = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"maqet {' '.join(map(str, args))} failed ({done.returncode}): {done.stderr}")
        return done

    def json(self, *args):
        """Runs `maqet ARGS --format json` and parses its output."""
        return json.loads(self.run(*args, "--format", "json").stdout)

    def add_config(self, name, yaml):
        """Writes `yaml` to configs/<name>.yaml and adds it."""
        path = self.root / "configs" / f"{name}.yaml"
        path.write_text(yaml)
        self.run("add", path)

    def close(self):
        """Stops every VM of this home (force) and removes the directory."""
        try:
            for row in self.json("ls"):
                if row.get("pid"):
                    self.run("stop", row["name"], "--force", check=False)
        except Exception as e:  # noqa: BLE001 - best effort clean-up
            print(f"warning: clean-up of {self.root}: {e}", file=sys.stderr)
        shutil.rmtree(self.root, ignore_errors=True)
        for extra in self.cleanup_dirs:
            shutil.rmtree(extra, ignore_errors=True)


def test_guest():
    """The busybox test guest's (kernel, initrd) paths, built or taken from its cache."""
    out = subprocess.run(
        ["bash", str(REPO / "tests/guest/build-guest.sh")],
        capture_output=True, text=True, check=True,
    ).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return values["KERNEL"], values["INITRD"]


def no_os_config(name, memory="64M"):
    """A VM with no kernel and no disk under TCG: QEMU and QMP without a guest to boot."""
    return f"name: {name}\nbinary: qemu-system-x86_64\naccel: tcg\ndisplay: none\nmemory: {memory}\n"


def qmp_query_status_at(path, timeout=30.0):
    """Connects to a QMP socket (retrying until it exists), negotiates, runs query-status."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(str(path))
            break
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.001)
    return qmp_query_status_on(sock)


def qmp_query_status_on(sock):
    """Reads the greeting on a connected QMP socket, negotiates, runs query-status; closes it."""
    with sock, sock.makefile("rwb") as f:
        json.loads(f.readline())  # greeting
        for cmd in ("qmp_capabilities", "query-status"):
            f.write(json.dumps({"execute": cmd}).encode() + b"\n")
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if "return" in msg or "error" in msg:
                    break
        return msg


def qmp_query_status_pipelined_on(sock):
    """Sends qmp_capabilities and query-status at once (before the greeting is read, as the
    runner does with its QEMU), then reads the greeting and both answers in order; closes it.

    QEMU runs one connection's commands in order, so this costs one round trip, not three."""
    with sock, sock.makefile("rwb") as f:
        f.write(b'{"execute": "qmp_capabilities"}\n{"execute": "query-status"}\n')
        f.flush()
        json.loads(f.readline())  # greeting
        answers = []
        while len(answers) < 2:
            msg = json.loads(f.readline())
            if "return" in msg or "error" in msg:
                answers.append(msg)
        return answers[1]


def smaps_rollup(pid):
    """{'Rss': kB, 'Pss': kB, ...} from /proc/PID/smaps_rollup."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        out[key] = int(value.split()[0])
    return out


def time_runs(fn, runs):
    """Calls fn() `runs` times; returns the durations in ms."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def summary(times):
    """'median X ms (min Y, max Z, n N)'."""
    return (
        f"median {statistics.median(times):.2f} ms (min {min(times):.2f}, "
        f"max {max(times):.2f}, n {len(times)})"
    )


def hyperfine_median_ms(command_argv, runs, env, warmup=3):
    """Median wall time in ms of an argv measured by hyperfine (None when hyperfine is missing)."""
    if shutil.which("hyperfine") is None:
        return None
    import shlex

    with tempfile.NamedTemporaryFile(suffix=".json") as export:
        subprocess.run(
            [
                "hyperfine", "-N", "--warmup", str(warmup), "--runs", str(runs),
                "--export-json", export.name, "--style", "none",
                " ".join(shlex.quote(a) for a in command_argv),
            ],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )
        result = json.load(open(export.name))["results"][0]
        return statistics.median(result["times"]) * 1000, result


def machine():
    """One line describing this machine."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, {cpu}; {qemu}; kernel {os.uname().release}; load average {load}"


MAX_QUIET_LOAD = 1.0


class Bench:
    """One benchmark run: load average before/after, comparability, FIGURE lines."""

    def __init__(self, name):
        self.name = name
        self.load_before = os.getloadavg()
        self.comparable = self.load_before[0] <= MAX_QUIET_LOAD
        print(f"[{name}] load average before: {fmt_load(self.load_before)}", flush=True)
        if not self.comparable:
            print(f"[{name}] NOT COMPARABLE: the 1-minute load is {self.load_before[0]:.2f} > "
                  f"{MAX_QUIET_LOAD} at the start; other work competes for the CPUs", flush=True)

    def figure(self, name, target, result, passed):
        """Prints one figure; `passed` None means reported only (no target)."""
        verdict = "—" if passed is None else ("PASS" if passed else "FAIL")
        if passed is not None and not self.comparable:
            verdict += " (NOT COMPARABLE)"
        print(f"FIGURE\t{name}\t{target}\t{result}\t{verdict}", flush=True)

    def close(self):
        after = os.getloadavg()
        print(f"[{self.name}] load average after: {fmt_load(after)}", flush=True)
        print(f"LOAD\t{self.name}\t{fmt_load(self.load_before)}\t{fmt_load(after)}\t"
              f"{'comparable' if self.comparable else 'NOT COMPARABLE'}", flush=True)


def fmt_load(load):
    return ", ".join(f"{x:.2f}" for x in load)


def spawn_ms(argv, env, stdout=os.devnull):
    """Wall time in ms of one run of argv (posix_spawn + waitpid, output to /dev/null); the
    exit status must be 0. Costs the caller about as little as `hyperfine -N`."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    ms = (time.perf_counter() - t0) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed with status {status}")
    return ms


def spawn_runs(argv, env, runs, warmup=3):
    """`runs` timings (ms) of argv after `warmup` untimed runs."""
    for _ in range(warmup):
        spawn_ms(argv, env)
    return [spawn_ms(argv, env) for _ in range(runs)]


def med_min(times):
    """'median X ms (min Y, n N)'."""
    return f"median {statistics.median(times):.2f} ms (min {min(times):.2f}, n {len(times)})"
