#!/bin/bash
# Screen waits on the test guest (TCG): per-poll cost (screendump through the pipe + OCR) and
# how soon `wait --screen-text` notices text after it appears. Args: [RUNS]. Run by hand (not in
# CI). Uses the release build (`cargo build --release -p maqet-cli -p maqet-runner`, or
# $MAQET_BIN / $MAQET_RUNNER) and builds the test guest with tests/guest/build-guest.sh.
set -euo pipefail
exec python3 "$(dirname "$0")/screen_wait.py" "$@"
