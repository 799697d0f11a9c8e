#!/bin/bash
# Snapshot create/load through maqet vs raw qemu-img on the same image. Args: [RUNS]
# Run by hand (not in CI) with the release build; see bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/snapshot_vs_qemu_img.py" "$@"
