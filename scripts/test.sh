#!/bin/bash
# Sets up a fresh machine and runs every check CI runs: format, lints, and all tests
# (unit tests, real qemu-img, real QEMU with the test guest under TCG, real plugin libraries).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --no-fail-fast
# The Python package: `pip install .` into a fresh venv, then pytest against real QEMU.
scripts/python-tests.sh
