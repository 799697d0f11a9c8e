#!/bin/bash
# maqet ls with 1,000 and 10,000 VMs and with 50 of 1,000 running, and --version. Args: [RUNS] [--no-10k] [--no-running]
# Run by hand (not in CI). Uses the release build: `cargo build --release -p maqet-cli -p maqet-runner`
# (in $CARGO_TARGET_DIR, default <repo>/target), or $MAQET_BIN / $MAQET_RUNNER. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/ls_1000.py" "$@"
