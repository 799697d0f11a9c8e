#!/bin/bash
# Installs what maqet needs on a fresh Debian 12 machine (run as root, or with sudo available),
# then builds the workspace and the cached test guest.
#
# QEMU 7.2 comes from Debian 12. Some images ship a newer qemu-utils from backports; qemu-system
# from bookworm cannot be installed beside it, so qemu-utils is taken from bookworm too.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86 "qemu-utils/bookworm")
command -v qemu-img >/dev/null || need+=("qemu-utils/bookworm")
# Optional tools the tests use when present: isoinfo (ISO checks), virt-xml-validate + xmllint.
command -v isoinfo >/dev/null || need+=(genisoimage)
command -v virt-xml-validate >/dev/null || need+=(libvirt-clients)
command -v xmllint >/dev/null || need+=(libxml2-utils)
command -v cpio >/dev/null || need+=(cpio)
command -v socat >/dev/null || need+=(socat)
# bench/run-all.sh (hand-run, not CI) profiles `maqet start` with strace.
command -v strace >/dev/null || need+=(strace)
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        --allow-downgrades "${need[@]}" >/dev/null
fi

cargo build --workspace --quiet
tests/guest/build-guest.sh >/dev/null
echo "setup: done (qemu $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'))" >&2
