#!/bin/bash
# Drives the test guest through its screen only, the way an installer with no serial console or
# agent is driven: boot, wait for the VGA login prompt by OCR, log in, run a command, read its
# output back from the screen. Every wait is a maqet wait; nothing sleeps. Runs RUNS rounds
# (default 1), each on a fresh VM, and fails on the first round that goes wrong.
#   scripts/demo-screen.sh [RUNS]
# Uses target/debug/maqet (or $MAQET) and a throw-away maqet home; needs tesseract-ocr.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1}
maqet=${MAQET:-$PWD/target/debug/maqet}
eval "$(tests/guest/build-guest.sh | grep -E '^(KERNEL|INITRD)=')"
home=$(mktemp -d /tmp/maqet-demo.XXXXXX)
export XDG_DATA_HOME=$home/data XDG_CONFIG_HOME=$home/config XDG_RUNTIME_DIR=$home/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
# On failure, show what OCR read on the last screen before the home goes.
trap 'status=$?; [ $status = 0 ] || cat "$home"/data/maqet/vms/*/screen-timeout-*.txt 2>/dev/null
      "$maqet" rm --all --force >/dev/null 2>&1 || true; rm -rf "$home"' EXIT
cat >"$home/demo.yaml" <<YAML
name: demo
binary: qemu-system-x86_64
memory: 256M
accel: tcg
display: none
vga: std
arguments:
  - kernel: $KERNEL
  - initrd: $INITRD
  - append: "console=ttyS0 console=tty0 panic=-1 quiet maqet.tty1=login vt.global_cursor_default=0"
  - no-reboot: null
YAML

passed=0
for round in $(seq "$runs"); do
    started=$(date +%s.%N)
    "$maqet" add "$home/demo.yaml" >/dev/null
    "$maqet" start demo --ephemeral >/dev/null
    "$maqet" wait demo --screen-text 'login:' --timeout 300 >/dev/null
    "$maqet" qmp type demo $'root\n'
    "$maqet" wait demo --screen-text 'Password' --timeout 60 >/dev/null
    "$maqet" qmp type demo $'maqet\n'
    "$maqet" wait demo --screen-text 'Welcome' --timeout 60 >/dev/null
    "$maqet" qmp type demo $'echo DEMO-$((6*7))-DONE\n'
    # The typed line shows `$((6*7))`; only the command's output shows 42. OCR of console glyphs
    # sometimes doubles a dash, so the pattern allows that, as a real script's would.
    want="DEMO-+42-+DONE"
    line=$("$maqet" wait demo --screen-text "$want" --timeout 60)
    "$maqet" screen text demo | grep -Eq "$want"
    "$maqet" rm demo --force >/dev/null
    passed=$((passed + 1))
    took=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo "round $round: read \"$line\" from the screen in $took s"
done
echo "demo-screen: $passed of $runs rounds passed"
