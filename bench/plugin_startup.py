"""Start-up cost of loading plugins (issue D): `maqet --help` with and without the two shipped
plugins (cloud-init, export) in <data>/plugins; target: loading them adds < 10 ms.

Usage: plugin_startup.sh [RUNS]   (default 50; needs the release build of the plugins:
`cargo build --release -p maqet-cli -p maqet-runner -p maqet-plugin-cloud-init -p maqet-plugin-export`)
"""

import shutil
import statistics
import sys

import benchlib

TARGET_MS = 10.0


def median_ms(home, args, runs):
    measured = benchlib.hyperfine_median_ms(home.argv(*args), runs, home.env)
    if measured is not None:
        return measured[0]
    return statistics.median(benchlib.time_runs(lambda: home.run(*args), runs))


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    release = benchlib.MAQET.parent
    libs = [release / "libmaqet_cloud_init.so", release / "libmaqet_export.so"]
    missing = [str(p) for p in libs if not p.is_file()]
    if missing:
        sys.exit(f"missing {missing}: build the plugins in release mode first")
    home = benchlib.Home()
    try:
        without = median_ms(home, ["--help"], runs)
        plugins = home.root / "data" / "plugins"
        plugins.mkdir(parents=True)
        for lib in libs:
            shutil.copy(lib, plugins / lib.name)
        listed = home.run("--help").stdout
        assert "cloud-init" in listed and "export" in listed, listed
        with_plugins = median_ms(home, ["--help"], runs)
        ls_with = median_ms(home, ["ls"], runs)
        cost = with_plugins - without
        print(f"machine: {benchlib.machine()}")
        print(f"--help without plugins: median {without:.2f} ms")
        print(f"--help with 2 plugins:  median {with_plugins:.2f} ms")
        print(f"ls with 2 plugins:      median {ls_with:.2f} ms")
        verdict = "PASS" if cost < TARGET_MS else "FAIL"
        print(f"plugin loading adds {cost:.2f} ms (target < {TARGET_MS} ms) {verdict}")
    finally:
        home.close()


if __name__ == "__main__":
    main()
