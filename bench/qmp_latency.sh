#!/bin/bash
# maqet qmp VM query-status end to end, and the runner's PSS/RSS. Args: [RUNS]
# Run by hand (not in CI). Uses the release build: `cargo build --release -p maqet-cli -p maqet-runner`
# (in $CARGO_TARGET_DIR, default <repo>/target), or $MAQET_BIN / $MAQET_RUNNER. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/qmp_latency.py" "$@"
