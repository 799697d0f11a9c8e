"""Two builds of the CLI on the same work, interleaved: `qmp`, `status` and `ls` of 101 VMs.

Each build gets its own throw-away home with one running no-OS VM and 100 empty ones; the
commands alternate between the builds, so load changes hit both alike. Median, min and the
ratio new/old per command.

Usage: ab_builds.sh NEW_RELEASE_DIR OLD_RELEASE_DIR [RUNS]   (dirs holding maqet and maqet-runner)
"""
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402


class BuildHome(benchlib.Home):
    def __init__(self, release):
        super().__init__()
        self.maqet = Path(release) / "maqet"
        self.env["MAQET_RUNNER"] = str(Path(release) / "maqet-runner")

    def argv(self, *args):
        return [str(self.maqet), "--maqet-data-dir", str(self.root / "data"),
                "--maqet-config-dir", str(self.root / "config"),
                "--maqet-runtime-dir", str(self.root / "runtime"), *map(str, args)]


def main():
    new_dir, old_dir = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    print("load before:", os.getloadavg())
    homes = {"new": BuildHome(new_dir), "old": BuildHome(old_dir)}
    try:
        for h in homes.values():
            h.add_config("bench", benchlib.no_os_config("bench"))
            for i in range(100):
                h.run("add", "--empty", "--name", f"idle{i}")
            h.json("start", "bench")
        work = {"qmp": ("qmp", "bench", "query-status"), "status": ("status", "bench"),
                "ls (101 VMs)": ("ls",)}
        times = {(w, b): [] for w in work for b in homes}
        for w, args in work.items():
            for b, h in homes.items():
                for _ in range(3):
                    benchlib.spawn_ms(h.argv(*args), h.env)
        for _ in range(runs):
            for w, args in work.items():
                for b, h in homes.items():
                    times[(w, b)].append(benchlib.spawn_ms(h.argv(*args), h.env))
        for w in work:
            new, old = times[(w, "new")], times[(w, "old")]
            print(f"{w}: new {statistics.median(new):.2f} ms (min {min(new):.2f}), "
                  f"old {statistics.median(old):.2f} ms (min {min(old):.2f}), "
                  f"ratio {statistics.median(new) / statistics.median(old):.2f}")
    finally:
        for h in homes.values():
            h.close()
    print("load after:", os.getloadavg())


main()
