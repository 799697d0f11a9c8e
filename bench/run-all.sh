#!/bin/bash
# Runs every benchmark once and regenerates bench/RESULTS.md (date, commit, machine line, and per
# figure target / result / PASS or FAIL). Args: [--quick]
# Run by hand on a quiet machine (load average < 1; a script that starts above 1.0 marks its
# figures NOT COMPARABLE). Builds the release binaries (and the export plugin, for
# vs_libvirt.py) first unless MAQET_BIN is set. vs_libvirt.py needs root and libvirt.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MAQET_BIN:-}" ]; then
    cargo build --release --quiet -p maqet-cli -p maqet-runner -p maqet-plugin-export
fi
command -v strace >/dev/null || { echo "run-all: strace is needed for the start-up profile" >&2; exit 2; }
echo "run-all: load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
exec python3 bench/run_all.py "$@"
