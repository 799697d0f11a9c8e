#!/bin/bash
# COUNT VMs started at once vs COUNT raw QEMUs at once (issue J). Args: [ROUNDS] [COUNT]
# Run by hand (not in CI). Uses the release build (see benchlib.py). See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/concurrent_starts.py" "$@"
