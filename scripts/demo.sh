#!/bin/bash
# Sets up a fresh machine, then boots the test guest with maqet, types a command into it,
# saves a PNG screenshot, shows its status and stops it gracefully. Uses a throw-away maqet home.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
eval "$(tests/guest/build-guest.sh | grep -E '^(KERNEL|INITRD)=')"

target="${CARGO_TARGET_DIR:-target}/debug"
home="$(mktemp -d /tmp/maqet-demo.XXXXXX)"
maqet() { "$target/maqet" --maqet-data-dir "$home/data" --maqet-runtime-dir "$home/run" --maqet-config-dir "$home/config" "$@"; }
trap 'maqet stop demo --force >/dev/null 2>&1 || true' EXIT

cat > "$home/demo.yaml" <<YAML
name: demo
memory: 256M
cpu: 1
accel: tcg            # the product default is KVM when usable; the demo uses TCG everywhere
display: none
vga: std
arguments:
  - kernel: $KERNEL
  - initrd: $INITRD
  - append: "console=ttyS0 console=tty0 panic=-1 quiet"
  - no-reboot: null
YAML

set -x
maqet add "$home/demo.yaml"
maqet start demo
maqet wait demo --serial 'MAQET-GUEST READY' --timeout 60
maqet qmp type demo 'echo hello from maqet'
maqet qmp keys demo ret
sleep 0.5
maqet qmp screendump demo "$home/screen.png" --png
maqet status demo
maqet stop demo
set +x
echo "screenshot: $home/screen.png"
