#!/bin/bash
# maqet qmp VM query-status end to end; idle runner PSS and wake-ups. Args: [RUNS] [IDLE_SECONDS]
# Run by hand (not in CI). Uses the release build: `cargo build --release -p maqet-cli -p maqet-runner`
# (in $CARGO_TARGET_DIR, default <repo>/target), or $MAQET_BIN / $MAQET_RUNNER. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/qmp_latency.py" "$@"
