#!/bin/bash
# Step table of one `maqet start` from strace (issue J). Args: [ROUNDS]
# Run by hand (not in CI). Uses the release build (see benchlib.py). See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/profile_start.py" "$@"
