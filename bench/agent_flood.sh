#!/bin/bash
# The runner's peak memory (VmHWM) while a hostile guest agent floods it (issue P): boots the
# test guest with maqet.evil_agent=flood / unterminated / huge, runs `maqet exec` against each,
# and reports the runner's VmHWM and VmRSS against the 64 MiB bound of docs/guest-agent.md.
# Args: [SECONDS] (how long each flood runs, default 30). Run by hand (not in CI). Uses the
# release build (`cargo build --release -p maqet-cli -p maqet-runner`) or $MAQET_BIN /
# $MAQET_RUNNER, and builds the test guest with tests/guest/build-guest.sh. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/agent_flood.py" "$@"
