#!/bin/bash
# In-process Python API: this package vs MAQET 0.0.15 (status, qmp, ls of 101 VMs, import). Args: [ROUNDS]
# Run by hand (not in CI), after scripts/python-tests.sh made target/python-venv. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/python_api.py" "$@"
