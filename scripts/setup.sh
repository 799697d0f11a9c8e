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
# The Python package (scripts/python-tests.sh): venv with pip, and Python's headers for PyO3.
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
[ -e "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] || need+=(python3-dev)
# The test guest's qemu-ga is Debian's; build-guest.sh copies its shared libraries from the host.
for lib in libglib-2.0.so.0 libnuma.so.1 liburing.so.2 libudev.so.1; do
    ldconfig -p | grep -q "$lib" || need+=(libglib2.0-0 libnuma1 liburing2 libudev1)
done
# libvirt for the `libvirt` plugin (maqet deploy) and its tests: the daemon without systemd
# (sysv scripts), the QEMU driver, virsh, the headers the `virt` crate builds against, and
# an sshd for the qemu+ssh:// test (the tests start and stop these daemons themselves).
command -v libvirtd >/dev/null || need+=(libvirt-daemon-system libvirt-daemon-system-sysv libvirt-daemon-driver-qemu)
command -v virsh >/dev/null || need+=(libvirt-clients)
[ -f /usr/include/libvirt/libvirt.h ] || need+=(libvirt-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
# tests/tests/libvirt_export.rs: `ss` lists the forward's listening address, qemu-io checks
# flattened images (qemu-io comes with qemu-utils).
command -v ss >/dev/null || need+=(iproute2)
command -v qemu-io >/dev/null || need+=("qemu-utils/bookworm")
command -v ssh >/dev/null || need+=(openssh-client)
# tests/guest/build-debian.sh: the Debian 12 guest image (root fs, GRUB, partition table).
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
[ -f /usr/lib/grub/i386-pc/boot.img ] || need+=(grub-pc-bin)
command -v sfdisk >/dev/null || need+=(fdisk)
# build-debian.sh --efi: the EFI system partition (a FAT image filled without mounting it).
command -v mkfs.vfat >/dev/null || need+=(dosfstools)
command -v mcopy >/dev/null || need+=(mtools)
# `firmware: uefi` / `secure_boot` / `tpm` and tests/tests/firmware.rs: OVMF with its QEMU
# firmware descriptors (/usr/share/qemu/firmware), swtpm for the emulated TPM, and tpm2-tools.
[ -d /usr/share/qemu/firmware ] && ls /usr/share/qemu/firmware/*.json >/dev/null 2>&1 || need+=(ovmf)
command -v swtpm >/dev/null || need+=(swtpm)
command -v swtpm_setup >/dev/null || need+=(swtpm-tools)
command -v tpm2_getrandom >/dev/null || need+=(tpm2-tools)
# Screen waits and `maqet screen text` read the screen with Tesseract (the program and its
# English data; tests/tests/screen.rs).
command -v tesseract >/dev/null || need+=(tesseract-ocr)
[ -f /usr/share/tesseract-ocr/5/tessdata/eng.traineddata ] || need+=(tesseract-ocr-eng)
# bench/run-all.sh (hand-run, not CI) profiles `maqet start` with strace.
command -v strace >/dev/null || need+=(strace)
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        --allow-downgrades "${need[@]}" >/dev/null
fi

# QEMU's own QMP client library and qmp-shell, for the tests that drive qmp.sock with them
# (tests/tests/qmp_clients.rs); the venv lives outside the checkout.
qmp_venv="${MAQET_QMP_VENV:-$HOME/.cache/maqet/qmp-venv}"
if [ ! -x "$qmp_venv/bin/qmp-shell" ]; then
    python3 -c 'import venv, ensurepip' 2>/dev/null || {
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            python3-venv >/dev/null
    }
    python3 -m venv "$qmp_venv"
    "$qmp_venv/bin/pip" install --quiet --disable-pip-version-check 'qemu.qmp>=0.0.3'
fi

cargo build --workspace --quiet
tests/guest/build-guest.sh >/dev/null
# A whole Debian 12 disk image for the tests that boot a real distribution (cached per machine;
# the first build takes a few minutes).
tests/guest/build-debian.sh >/dev/null
# Its UEFI variant (signed shim and GRUB on an EFI system partition) for tests/tests/firmware_debian.rs.
tests/guest/build-debian.sh --efi >/dev/null
echo "setup: done (qemu $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'))" >&2
