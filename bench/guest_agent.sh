#!/bin/bash
# `maqet exec VM -- /bin/true` end to end and `maqet cp` throughput in and out, on the test guest
# (qemu-ga, TCG). Args: [RUNS] [MIB]. Run by hand (not in CI). Uses the release build:
# `cargo build --release -p maqet-cli -p maqet-runner` (or $MAQET_BIN / $MAQET_RUNNER), and
# builds the test guest with tests/guest/build-guest.sh. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/guest_agent.py" "$@"
