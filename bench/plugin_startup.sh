#!/bin/bash
# Start-up cost of loading the two shipped plugins. Args: [RUNS]. Run by hand (not in CI).
set -euo pipefail
exec python3 "$(dirname "$0")/plugin_startup.py" "$@"
