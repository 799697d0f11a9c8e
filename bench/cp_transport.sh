#!/bin/bash
# `maqet cp` of SIZE MiB (default 256) into and out of the real Debian guest, through the copy
# channel and over SSH, interleaved, and once through the guest agent (at most 64 MiB); MB/s of
# each and the channel's ratio to the agent figures of issue Q (2.4 MB/s in, 6.7 MB/s out;
# target 5x). Args: [SIZE_MIB] [ROUNDS]. Run by hand (not in CI).
# Uses the release build: `cargo build --release -p maqet-cli -p maqet-runner` (or $MAQET_BIN /
# $MAQET_RUNNER), and builds or reuses the Debian guest with tests/guest/build-debian.sh.
# See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/cp_transport.py" "$@"
