#!/bin/bash
# fault injection (issue L §8): kill -9 of runner/QEMU/CLI at random moments of start/stop/snapshot.
# Args: [--minutes M] [--vms N] [--seed S] [--agent-rounds N]. Reports QEMUs per VM (must be
# <= 1), state mismatches (must be 0) and lost data files (must be 0); then (issue P) kills the CLI or the runner during
# `maqet cp` and `maqet exec` on the test guest (--agent-rounds N, default 6; 0 skips it) and
# checks nothing is left and the VM still works. Exits non-zero otherwise. Run by hand (not in CI).
# Uses the debug build (`cargo build -p maqet-cli -p maqet-runner`), whose runner honours the
# MAQET_TEST_CRASH_AT hook; or $MAQET_BIN / $MAQET_RUNNER. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/fault_inject.py" "$@"
