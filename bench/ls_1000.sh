#!/bin/bash
# maqet ls with 1,000 registered VMs, and maqet --version. Args: [COUNT] [RUNS]
# Run by hand (not in CI). Uses the release build: `cargo build --release -p maqet-cli -p maqet-runner`
# (in $CARGO_TARGET_DIR, default <repo>/target), or $MAQET_BIN / $MAQET_RUNNER. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/ls_1000.py" "$@"
