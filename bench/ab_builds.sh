#!/bin/bash
# Two builds of the CLI on the same work, interleaved. Args: NEW_RELEASE_DIR OLD_RELEASE_DIR [RUNS]
# Run by hand (not in CI). See bench/ab_builds.py and bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/ab_builds.py" "$@"
