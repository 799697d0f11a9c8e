#!/bin/bash
# Sets up a fresh machine and runs every check CI runs: format, lints, and all tests
# (unit tests, real qemu-img, real QEMU with the test guest under TCG, real plugin libraries).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --no-run --quiet
# The test binaries that boot a whole Debian under TCG, or share the one test libvirtd, run one
# after another in a second lane beside all the other tests: each keeps one core busy for
# minutes, and libvirtd can serve only one test process at a time.
second_lane=(cp_ssh debian_must_show firmware_debian firmware_libvirt libvirt libvirt_export managed_save)
# Every other test target of the workspace, read from cargo's own metadata.
mapfile -t first_lane < <(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
lane = set(sys.argv[1:])
meta = json.load(sys.stdin)
names = {t["name"] for p in meta["packages"] for t in p["targets"] if "test" in t["kind"]}
for name in sorted(names - lane):
    print(name)
' "${second_lane[@]}")
second_lane_log=$(mktemp)
cargo test --workspace --no-fail-fast $(printf -- '--test %s ' "${second_lane[@]}") \
    >"$second_lane_log" 2>&1 &
second_lane_pid=$!
first_lane_status=0
cargo test --workspace --no-fail-fast --lib --bins $(printf -- '--test %s ' "${first_lane[@]}") ||
    first_lane_status=$?
cargo test --workspace --no-fail-fast --doc || first_lane_status=$?
second_lane_status=0
wait "$second_lane_pid" || second_lane_status=$?
echo "=== second lane: ${second_lane[*]} ==="
cat "$second_lane_log"
rm -f "$second_lane_log"
if [ "$first_lane_status" -ne 0 ] || [ "$second_lane_status" -ne 0 ]; then
    echo "cargo test failed (first lane: exit $first_lane_status, second lane: exit $second_lane_status)" >&2
    exit 1
fi
# The Python package: `pip install .` into a fresh venv, then pytest against real QEMU.
scripts/python-tests.sh
