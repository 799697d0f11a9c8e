#!/bin/bash
# Managed save and restore of the real Debian 12 guest with 1 GiB of RAM: `maqet stop VM --save`
# and `maqet start VM` until the guest agent answers (target < 2 s), median and min over
# ROUNDS. Args: [ROUNDS]. Run by hand (not in CI). Uses the release build: `cargo build
# --release -p maqet-cli -p maqet-runner` (or $MAQET_BIN / $MAQET_RUNNER), and the Debian guest
# from tests/guest/build-debian.sh. See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/managed_save.py" "$@"
