#!/bin/bash
# soak (issue E §7): N VMs started at once, 8 clients querying, then stopped. Args: [--vms N] [--duration S] [--clients N] [--registered N]
# Run by hand (not in CI). Uses the release build: `cargo build --release -p maqet-cli -p maqet-runner`
# (in $CARGO_TARGET_DIR, default <repo>/target), or $MAQET_BIN / $MAQET_RUNNER. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/soak.py" "$@"
