"""The real Debian guest for the benchmarks: its cached qcow2 (tests/guest/build-debian.sh)."""

import subprocess
import sys

import benchlib


def debian_image():
    """The Debian guest's qcow2 path, built once and cached by tests/guest/build-debian.sh."""
    out = subprocess.run(["bash", str(benchlib.REPO / "tests/guest/build-debian.sh")],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("DEBIAN_IMAGE="):
            return line.split("=", 1)[1].strip()
    sys.exit(f"build-debian.sh printed no DEBIAN_IMAGE= line:\n{out}")
