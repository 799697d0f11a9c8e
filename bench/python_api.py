"""In-process Python API speed: this package vs the original MAQET 0.0.15, interleaved.

Measures, in each package's own venv and a throw-away home: `import maqet` + `Maqet()` (a fresh
interpreter each round), `status(vm)`, `qmp(vm, "query-status")` on a running VM, and `ls()` with
101 VMs. Prints median and min per figure. Run by hand (see bench/RESULTS.md); it refuses to
call its figures comparable when the load average is 1 or more.

    bench/python_api.sh [ROUNDS]

Venvs: $MAQET_PY_VENV (default target/python-venv, made by scripts/python-tests.sh; use
MAQET_PY_PROFILE=release there for release figures) and target/bench-maqet-0.0.15 (made here from
`pip download maqet==0.0.15`).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OURS = Path(os.environ.get("MAQET_PY_VENV") or REPO / "target/python-venv")
ORIG = REPO / "target/bench-maqet-0.0.15"

WORKER = r'''
import json, os, sys, time
which, home, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
from maqet import Maqet
config = os.path.join(home, "vm.yaml")
m = Maqet(data_dir=os.path.join(home, "data"))
key = "vm_config" if which == "orig" else "config"
for i in range(100):
    m.add(**{key: config, "name": f"idle-{i:03d}"})
vm = m.add(**{key: config, "name": "bench"})
m.start("bench")
def timed(f):
    out = []
    for _ in range(rounds):
        t = time.perf_counter(); f(); out.append(time.perf_counter() - t)
    return out
res = {
    "status": timed(lambda: m.status("bench")),
    "qmp": timed(lambda: m.qmp("bench", "query-status")),
    "ls": timed(lambda: m.ls()),
}
m.stop("bench", force=True)
print(json.dumps(res))
'''

IMPORT = "import time; t = time.perf_counter(); import maqet; maqet.Maqet(data_dir={d!r}); print(time.perf_counter() - t)"


def ensure_original() -> None:
    if (ORIG / "bin/python").exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(ORIG)], check=True)
    dl = ORIG / "download"
    subprocess.run([str(ORIG / "bin/pip"), "download", "--quiet", "maqet==0.0.15", "-d", str(dl)], check=True)
    subprocess.run([str(ORIG / "bin/pip"), "install", "--quiet", "--no-index", "--find-links", str(dl), "maqet==0.0.15"], check=True)


def vm_yaml(which: str) -> str:
    """A VM without OS (no kernel, no disk), TCG, no display: QMP is measured, not a guest."""
    accel = "arguments:\n  - {accel: tcg}\n" if which == "orig" else "accel: tcg\n"
    return "binary: qemu-system-x86_64\nmemory: 64M\ndisplay: none\n" + accel


def run(which: str, venv: Path, rounds: int) -> dict:
    home = tempfile.mkdtemp(prefix=f"mqb-{which}-", dir="/tmp")
    Path(home, "vm.yaml").write_text(vm_yaml(which))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAQET_")}
    env.update(XDG_DATA_HOME=home, XDG_CONFIG_HOME=home, XDG_RUNTIME_DIR=home, HOME=home)
    out = subprocess.run([str(venv / "bin/python"), "-c", WORKER, which, home, str(rounds)],
                         capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        sys.exit(f"{which} failed:\n{out.stdout}\n{out.stderr}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    imports = []
    for _ in range(max(5, rounds // 10)):
        t = subprocess.run([str(venv / "bin/python"), "-c", IMPORT.format(d=os.path.join(home, "data"))],
                           capture_output=True, text=True, env=env, check=True)
        imports.append(float(t.stdout.strip()))
    res["import+Maqet()"] = imports
    subprocess.run(["pkill", "-f", home], check=False)
    return res


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    load = os.getloadavg()[0]
    ensure_original()
    results = {"ours": [], "orig": []}
    for _ in range(3):  # interleaved: ours, orig, ours, orig, ...
        results["ours"].append(run("ours", OURS, rounds))
        results["orig"].append(run("orig", ORIG, rounds))
    print(f"load average at start: {load:.2f}" + ("  -- NOT COMPARABLE (machine loaded)" if load >= 1 else ""))
    print(f"{'figure':<16} {'maqet (Rust) median/min':>26} {'MAQET 0.0.15 median/min':>26} {'speed-up':>9}")
    for figure in ("import+Maqet()", "status", "qmp", "ls"):
        ours = [x for r in results["ours"] for x in r[figure]]
        orig = [x for r in results["orig"] for x in r[figure]]
        mo, mi = statistics.median(ours), min(ours)
        po, pi = statistics.median(orig), min(orig)
        print(f"{figure:<16} {mo*1e3:>12.3f} / {mi*1e3:>8.3f} ms {po*1e3:>12.3f} / {pi*1e3:>8.3f} ms {po/mo:>8.1f}x")


if __name__ == "__main__":
    main()
