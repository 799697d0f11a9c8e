#!/bin/bash
# maqet start to ready vs raw QEMU (same argv) to its QMP answer; ratio of medians. Args: [ROUNDS]
# Run by hand (not in CI). Uses the release build: `cargo build --release -p maqet-cli -p maqet-runner`
# (in $CARGO_TARGET_DIR, default <repo>/target), or $MAQET_BIN / $MAQET_RUNNER. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/start_vs_qemu.py" "$@"
