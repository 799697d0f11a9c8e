#!/bin/bash
# `maqet exec VM -- /bin/true` vs a raw qemu-ga client (guest-exec, then guest-exec-status every
# 1 ms) on the busybox test guest, interleaved; ratio of medians. Args: [ROUNDS]. Run by hand (not
# in CI). Uses the release build: `cargo build --release -p maqet-cli -p maqet-runner` (or
# $MAQET_BIN / $MAQET_RUNNER), and builds the test guest with tests/guest/build-guest.sh.
# See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/exec_vs_raw.py" "$@"
