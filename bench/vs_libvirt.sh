#!/bin/bash
# maqet side by side with libvirt (the libvirtd the tests start) on the same busybox guest,
# exported with `maqet export`: start, ACPI stop, destroy, a QMP query, the agent's answer, list
# with 100 domains, and managed save + restore of the Debian guest (1 GiB) when `maqet stop
# --save` exists. Args: [ROUNDS] [--no-save]. Needs root. Run by hand (not in CI). Uses the
# release build: `cargo build --release -p maqet-cli -p maqet-runner -p maqet-plugin-export`.
# See bench/RESULTS.md.
set -euo pipefail
exec python3 "$(dirname "$0")/vs_libvirt.py" "$@"
