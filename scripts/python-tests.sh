#!/bin/bash
# Builds the Python package the way a user installs it (`pip install .` into a fresh venv) and
# runs the pytest suite in python/tests against real QEMU and the test guest.
#
# The wheel is built once per run. To keep CI fast it uses the dev profile
# (MATURIN_PEP517_ARGS=--profile dev) and its own target dir for the extension module, so the
# nested build of maqet-runner and maqet (crates/maqet-py/build.rs) reuses target/debug.
# MAQET_PY_PROFILE=release builds what a plain `pip install .` builds.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/python-venv
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check pytest mypy pillow
profile="${MAQET_PY_PROFILE:-dev}"
if [ "$profile" = release ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check .
else
    CARGO_TARGET_DIR="$PWD/target/python" MATURIN_PEP517_ARGS="--profile $profile" \
        "$venv/bin/pip" install --quiet --disable-pip-version-check .
fi
# Tests run from outside the checkout, so `import maqet` finds the installed package only.
cd python/tests
exec "../../$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" .
