#!/bin/bash
# Builds the tiny Linux guest used by maqet's end-to-end tests, once, and caches it.
#
# The guest is a stock Debian kernel plus a busybox initramfs whose /init (see guest-init.sh
# below) loads a few modules, reports the devices it sees on the serial console, powers off
# within milliseconds of an ACPI power-button press, and runs shells on tty1 and ttyS0. It also
# runs Debian's qemu-ga on the virtio port named org.qemu.guest_agent.0 (when there is one; not
# with maqet.no_agent=1), has a /sbin/shutdown that powers off or reboots at once (qemu-ga's
# guest-shutdown runs it), and serves /www with busybox httpd on TCP port 8080. With
# maqet.tty1=login, tty1 shows a login prompt (root / maqet) before its shell, and /bin/menu is a
# tiny full-screen menu (arrow keys and Enter, or a click with a USB tablet) for screen-automation
# tests.
#
# With maqet.evil_agent=MODE on the kernel command line, a hostile stand-in (/sbin/evil-agent,
# busybox awk) serves the agent port instead of qemu-ga, for tests of what a guest can do to the
# host. It answers guest-sync-delimited, guest-ping and guest-info properly (so the connection
# comes up and `maqet wait --agent` works) and misbehaves on the other commands, as MODE says:
#   flood         endless 'A's, no newline, no JSON          (evil_arg: MiB, 0 = endless)
#   unterminated  {"return": "AAAA... never closed            (evil_arg: MiB, 0 = endless)
#   huge          {"return": "AAAA...AAAA"}, valid but large  (evil_arg: MiB, default 64)
#   chatter       endless unsolicited {"event": "noise"} lines (evil_arg: lines, 0 = endless)
#   silent        no answer at all
#   wrong-sync    answers guest-sync-delimited with another id
#   garbage       sends evil_arg MiB (default 1) of garbage before each sync's 0xFF (legal)
#   exitcode      guest-exec-status says exitcode/signal from evil_arg, a comma list cycled per
#                 guest-exec (default exitcode=300,signal=999,exitcode=-1)
#   listing       guest-exec of `find ROOT ... -type f|d [-print0]` prints evil_arg's comma list
#                 of paths with ROOT replaced (default ROOT/../escaped,/etc/passwd,ROOT/ok; an
#                 entry ending in / is a directory), newline- or NUL-separated; `stat -c ...`
#                 says "5 81a4" per path; other helpers exit 0; guest-file-read returns "evil\n"
# maqet.evil_when=all makes flood/unterminated/huge/chatter/silent hit syncs and pings too;
# maqet.evil_times=N misbehaves only N times, then behaves like a (tiny) agent.
#
# Output: <cache>/<key>/{vmlinux (or vmlinuz),initrd.img,VERSION}, printed as KERNEL=... and
# INITRD=... (vmlinux is the uncompressed kernel, booted by QEMU through its PVH entry point).
#   cache: ${MAQET_TEST_GUEST_DIR:-$HOME/.cache/maqet/test-guest}
#   key:   hash of this script + kernel and busybox package versions
# Needs: Debian 12 (apt-get, dpkg-deb), root for `apt-get download`/`apt-get update`, gzip.
# Safe to run concurrently (flock) and cheap to run again (a resolved key is reused for a day).
set -euo pipefail

CACHE_ROOT="${MAQET_TEST_GUEST_DIR:-${HOME:-/root}/.cache/maqet/test-guest}"
# The generic kernel, not -cloud: the cloud flavour lacks 9p and AHCI.
KERNEL_META_PKG="${MAQET_TEST_GUEST_KERNEL_PKG:-linux-image-amd64}"
BUSYBOX_PKG=busybox-static
QGA_PKG=qemu-guest-agent
# qemu-ga's shared libraries are copied from the host (found with ldd); these provide them.
QGA_LIB_PKGS=(libglib2.0-0 libnuma1 liburing2 libudev1)
RESOLVE_MAX_AGE_MIN=1440
# group:module. /init loads the "disk" group in the background while it loads "main" (probing
# the IDE ports takes ~0.4 s of mostly waiting), then "late", whose dependencies span both.
# The groups' dependencies must not overlap (two modprobes would race to load the same one).
# Within a group, order matters: SCSI disk/cdrom drivers before the host drivers that find disks.
# ext4 is left out: it costs ~0.4 s of boot under TCG and no test needs it. bochs (the DRM driver
# of QEMU's standard VGA) gives tty1 a frame buffer console: a PVH-booted kernel has no VGA text
# console, so without it screendumps would show only the firmware's last screen. The "usb" group
# (the PIIX3 UHCI host controller QEMU's `-usb` adds, and the HID drivers of its usb-tablet, read
# through evdev) loads in the background, and only when there is a USB host controller.
WANTED_MODULES=(
    disk:cdrom disk:sr_mod disk:sd_mod disk:isofs disk:libata disk:ata_piix disk:ahci
    disk:bochs main:button main:evdev
    main:virtio_pci main:virtio_blk main:virtio_net main:virtio_rng main:virtio_console
    main:netfs main:fscache main:9pnet main:9pnet_virtio main:9p
    late:virtio_scsi
    usb:uhci_hcd usb:usbhid usb:hid_generic
)

log() { echo "build-guest: $*" >&2; }
die() { log "error: $*"; exit 1; }
need() { # command package: installs package if command is missing
    command -v "$1" >/dev/null && return 0
    log "installing $2 (for $1)"
    apt-get install -y -qq "$2" >&2 || die "cannot install $2; install it by hand"
}

script_hash() { sha256sum "${BASH_SOURCE[0]}" | cut -c1-16; }

print_result() {
    echo "GUEST_DIR=$1"
    echo "KERNEL=$1/$(cat "$1/KERNEL_FILE")"
    echo "INITRD=$1/initrd.img"
}

extract_vmlinux() { # bzImage out -> writes the uncompressed ELF kernel, fails if it cannot
    local off
    off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$1" 2>/dev/null | head -n1 | cut -d: -f1 || true)
    [ -n "$off" ] || return 1
    # xz stops after its stream; reading through <() keeps tail's SIGPIPE out of pipefail.
    xz -dc --single-stream < <(tail -c +$((off + 1)) "$1") >"$2" 2>/dev/null || return 1
    [ "$(head -c 4 "$2" | tail -c 3)" = ELF ]
}

# Prints "<kernel-pkg> <kernel-version> <busybox-version>" from apt's lists (empty if unknown).
resolve_packages() {
    apt-cache show --no-all-versions "$KERNEL_META_PKG" "$BUSYBOX_PKG" 2>/dev/null | awk -v bb="$BUSYBOX_PKG" '
        /^Package: / { pkg = $2 }
        /^Depends: / && pkg != bb {
            for (i = 2; i <= NF; i++) if ($i ~ /^linux-image-[0-9]/) { kpkg = $i; kver = $(i + 2); sub(/\)$/, "", kver); sub(/,$/, "", kpkg); break }
        }
        /^Version: / && pkg == bb { bver = $2 }
        END { if (kpkg != "" && bver != "") print kpkg, kver, bver }'
}

resolve_or_update() {
    local resolved
    resolved=$(resolve_packages)
    if [ -z "$resolved" ]; then
        log "apt lists do not know $KERNEL_META_PKG; running apt-get update"
        apt-get update -qq >&2 || die "apt-get update failed; check the network and /etc/apt/sources.list"
        resolved=$(resolve_packages)
    fi
    [ -n "$resolved" ] || die "cannot resolve $KERNEL_META_PKG and $BUSYBOX_PKG with apt-cache"
    echo "$resolved"
}

download_debs() { # dest pkg...
    local dest=$1; shift
    if ! (cd "$dest" && apt-get download -q -o APT::Sandbox::User=root "$@" >&2); then
        log "apt-get download failed; refreshing apt lists and retrying"
        apt-get update -qq >&2 || die "apt-get update failed"
        (cd "$dest" && apt-get download -q -o APT::Sandbox::User=root "$@" >&2) ||
            die "apt-get download $* failed"
    fi
}

# --- fast path: a key resolved recently for this very script -------------------------------
HASH=$(script_hash)
STAMP="$CACHE_ROOT/resolved-$HASH"
if [ -f "$STAMP" ] && [ -z "$(find "$STAMP" -mmin +"$RESOLVE_MAX_AGE_MIN" 2>/dev/null)" ]; then
    dir="$CACHE_ROOT/$(cat "$STAMP")"
    if [ -f "$dir/VERSION" ]; then print_result "$dir"; exit 0; fi
fi

RESOLVED=$(resolve_or_update)
read -r KPKG KVER BBVER <<<"$RESOLVED"
KEY=$(printf '%s\n' "$HASH" "$KPKG" "$KVER" "$BBVER" | sha256sum | cut -c1-16)
OUT="$CACHE_ROOT/$KEY"
mkdir -p "$CACHE_ROOT"

exec 9>"$CACHE_ROOT/.lock"
flock 9
if [ -f "$OUT/VERSION" ]; then
    echo "$KEY" >"$STAMP.tmp.$$" && mv "$STAMP.tmp.$$" "$STAMP"
    print_result "$OUT"
    exit 0
fi

need xz xz-utils
log "building test guest ($KPKG $KVER, busybox $BBVER) into $OUT"
WORK=$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
download_debs "$WORK" "$KPKG" "$BUSYBOX_PKG" "$QGA_PKG"
mkdir "$WORK/kpkg" "$WORK/bbpkg" "$WORK/qgapkg"
dpkg-deb -x "$WORK"/"$KPKG"_*.deb "$WORK/kpkg"
dpkg-deb -x "$WORK"/"$BUSYBOX_PKG"_*.deb "$WORK/bbpkg"
dpkg-deb -x "$WORK"/"$QGA_PKG"_*.deb "$WORK/qgapkg"
BUSYBOX="$WORK/bbpkg/bin/busybox"
[ -x "$BUSYBOX" ] || die "$BUSYBOX_PKG did not contain bin/busybox"
KREL=$(basename "$(ls -d "$WORK"/kpkg/lib/modules/*/ | head -n1)")
KMODS="$WORK/kpkg/lib/modules/$KREL"
VMLINUZ="$WORK/kpkg/boot/vmlinuz-$KREL"
[ -f "$VMLINUZ" ] || die "$KPKG did not contain boot/vmlinuz-$KREL"

# --- root file system -----------------------------------------------------------------------
R="$WORK/root"
mkdir -p "$R"/{bin,sbin,etc/acpi,proc,sys,dev,tmp,mnt,root,run,var/log,var/run,lib/modules/"$KREL"}
cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$R/bin/$applet"
done

# --- the guest agent: qemu-ga and the shared libraries it needs (from the host, via ldd) --------
QGA="$WORK/qgapkg/usr/sbin/qemu-ga"
[ -x "$QGA" ] || die "$QGA_PKG did not contain usr/sbin/qemu-ga"
if ldd "$QGA" | grep -q 'not found'; then
    log "installing qemu-ga's libraries: ${QGA_LIB_PKGS[*]}"
    apt-get install -y -qq "${QGA_LIB_PKGS[@]}" >&2 || die "cannot install ${QGA_LIB_PKGS[*]}"
fi
! ldd "$QGA" | grep 'not found' || die "qemu-ga needs libraries this host does not have"
mkdir -p "$R/usr/sbin" "$R/www"
cp "$QGA" "$R/usr/sbin/qemu-ga"
for lib in $(ldd "$QGA" | grep -o '/[^ ]*'); do
    mkdir -p "$R$(dirname "$lib")"
    cp -L "$lib" "$R$lib"
done
# busybox has no shutdown; qemu-ga runs `shutdown -P|-H|-r +0 MESSAGE`.
cat >"$R/sbin/shutdown" <<'SHUTDOWN'
#!/bin/sh
for arg in "$@"; do
    [ "$arg" = -r ] && exec reboot -f
done
exec poweroff -f
SHUTDOWN
chmod 755 "$R/sbin/shutdown"
echo 'maqet test guest' >"$R/www/index.html"

# --- the VGA console's login and menu, for screen tests (maqet.tty1=login) ----------------------
cat >"$R/sbin/screen-login" <<'LOGIN'
#!/bin/sh
# tty1's login prompt with maqet.tty1=login: user root, password maqet, then an interactive shell.
stty sane 2>/dev/null
printf '\033[H\033[2J'
echo 'maqet test guest, VGA console'
echo
while true; do
    printf 'maqet-guest login: '
    read -r user || exit 1
    stty -echo
    printf 'Password: '
    read -r pass
    stty echo
    echo
    if [ "$user" = root ] && [ "$pass" = maqet ]; then
        echo 'Welcome to the maqet test guest. Type menu for the menu.'
        exec sh -i
    fi
    echo 'Login incorrect'
    echo
done
LOGIN
chmod 755 "$R/sbin/screen-login"
cat >"$R/bin/menu" <<'MENU'
#!/bin/sh
# A tiny full-screen menu: Up/Down (or k/j) move the mark, Enter picks; a digit picks at once.
# With a USB tablet (maqet's `pointer: tablet`), a left click on an entry's line picks it:
# /sbin/menu-mouse reads the tablet and signals USR1 with the clicked line in $tmp.click.
set -- "Show the date" "Say hello" "Count to three" "Quit"
sel=1
esc=$(printf '\033')
old=$(stty -g)
stty -echo -icanon
tmp=/tmp/menu.$$
rows=$(stty size | cut -d' ' -f1)
exec 3<&0
clicked=''
trap 'clicked=1' USR1
mouse=''
for name in /sys/class/input/event*/device/name; do
    grep -q Tablet "$name" 2>/dev/null || continue
    ev=${name%/device/name}
    /sbin/menu-mouse "/dev/input/${ev##*/}" $$ "$tmp.click" "${rows:-25}" &
    mouse=$!
    break
done
draw() {
    printf '\033[H\033[2J'
    echo '+------- MAQET MENU -------+'
    i=1
    for item in "$@"; do
        mark=' '
        [ "$i" = "$sel" ] && mark='>'
        printf '| %s %d. %-19s |\n' "$mark" "$i" "$item"
        i=$((i + 1))
    done
    echo '+--------------------------+'
    echo 'Up/Down moves, Enter picks'
}
while true; do
    draw "$@"
    rm -f "$tmp.key"
    if [ -z "$clicked" ]; then
        # The key is read in the background so that a click (USR1) ends the wait.
        dd bs=1 count=1 of="$tmp.key" <&3 2>/dev/null &
        key_reader=$!
        wait "$key_reader"
        kill "$key_reader" 2>/dev/null
    fi
    if [ -n "$clicked" ]; then
        clicked=''
        line=$(cat "$tmp.click" 2>/dev/null)
        rm -f "$tmp.click"
        # Line 0 is the title; entry N is on line N.
        case "$line" in [1-9]) [ "$line" -le $# ] && { sel=$line; break; } ;; esac
        continue
    fi
    [ -s "$tmp.key" ] || continue
    key=$(cat "$tmp.key")
    case "$key" in
        "$esc")
            rest=$(dd bs=1 count=2 <&3 2>/dev/null)
            [ "$rest" = '[A' ] && key=k
            [ "$rest" = '[B' ] && key=j
            ;;
    esac
    case "$key" in
        k) [ "$sel" -gt 1 ] && sel=$((sel - 1)) ;;
        j) [ "$sel" -lt $# ] && sel=$((sel + 1)) ;;
        [1-4]) sel=$key; break ;;
        '') break ;;
    esac
done
[ -n "$mouse" ] && kill "$mouse" 2>/dev/null
trap - USR1
rm -f "$tmp".*
stty "$old"
printf '\033[H\033[2J'
case $sel in
    1) echo 'MENU PICKED: date'; date ;;
    2) echo 'MENU PICKED: hello'; echo 'HELLO FROM THE MENU' ;;
    3) echo 'MENU PICKED: count'; echo 'one two three' ;;
    *) echo 'MENU PICKED: quit' ;;
esac
MENU
chmod 755 "$R/bin/menu"
cat >"$R/sbin/menu-mouse" <<'MOUSE'
#!/bin/sh
# menu-mouse DEVICE PID FILE ROWS: reads a tablet's events for /bin/menu. On a left-button
# press, writes the screen line under the pointer (0 at the top, of ROWS lines) to FILE and
# signals PID with USR1 until PID has taken FILE away.
# An event (struct input_event on x86_64) is 24 bytes: 16 of time, then type and code (16 bits
# each) and value (32 bits), so od prints it as 12 16-bit words. A read of the device returns
# whole events. A report's button can come before its position: a press counts at the SYN_REPORT
# that ends the report.
dev=$1 pid=$2 file=$3 rows=$4
y=0 pressed=0 reader=''
trap '[ -n "$reader" ] && kill "$reader" 2>/dev/null; rm -f "$file".*; exit 0' TERM
exec 4<"$dev" || exit 1
while kill -0 "$pid" 2>/dev/null; do
    dd bs=2400 count=1 of="$file.events" <&4 2>/dev/null &
    reader=$!
    wait "$reader"
    od -An -tu2 -v -w24 "$file.events" >"$file.words"
    while read -r _ _ _ _ _ _ _ _ type code low high; do
        case $type:$code in
            3:1) y=$((low + high * 65536)) ;;
            1:272) [ "$low" = 1 ] && pressed=1 ;;
            0:0)
                [ "$pressed" = 1 ] || continue
                pressed=0
                echo $((y * rows / 32768)) >"$file.new" && mv "$file.new" "$file"
                n=0
                while [ -e "$file" ] && [ "$n" -lt 25 ]; do
                    kill -USR1 "$pid" 2>/dev/null || break
                    sleep 0.2
                    n=$((n + 1))
                done
                ;;
        esac
    done <"$file.words"
done
MOUSE
chmod 755 "$R/sbin/menu-mouse"

# --- the hostile stand-in for qemu-ga (maqet.evil_agent=MODE; see the top of this file) --------
cat >"$R/sbin/evil-agent" <<'EVIL'
#!/bin/sh
# Serves the agent port given as $1 like a hostile qemu-ga, as the kernel command line says.
mode='' when=commands times=0 arg=''
for a in $(cat /proc/cmdline); do
    case "$a" in
        maqet.evil_agent=*) mode=${a#*=} ;;
        maqet.evil_when=*) when=${a#*=} ;;
        maqet.evil_times=*) times=${a#*=} ;;
        maqet.evil_arg=*) arg=${a#*=} ;;
    esac
done
exec awk -v mode="$mode" -v when="$when" -v times="$times" -v arg="$arg" \
    -f /etc/evil-agent.awk 0<>"$1" 1>&0
EVIL
chmod 755 "$R/sbin/evil-agent"
cat >"$R/etc/evil-agent.awk" <<'EVIL'
# One request per line ("0xFF" bytes before syncs are ignored); see /sbin/evil-agent.
function send(text) { printf "%s", text; fflush() }
function ret(value) { send("{\"return\": " value "}\n") }
function str(name,   s) {
    if (!match(req, "\"" name "\":[ ]*\"[^\"]*\"")) return ""
    s = substr(req, RSTART, RLENGTH); sub(/^"[^"]*":[ ]*"/, "", s); sub(/"$/, "", s)
    return s
}
function num(name,   s) {
    if (!match(req, "\"" name "\":[ ]*-?[0-9]+")) return ""
    s = substr(req, RSTART, RLENGTH); sub(/^"[^"]*":[ ]*/, "", s)
    return s
}
function args(   s) {
    if (!match(req, /"arg":[ ]*\[[^]]*\]/)) return ""
    s = substr(req, RSTART, RLENGTH); sub(/^"arg":[ ]*\[/, "", s); sub(/\]$/, "", s)
    gsub(/"/, "", s)
    return s
}
# MiB (or lines) from evil_arg, `fallback` when it is not set.
function amount(fallback) { return arg == "" ? fallback : arg + 0 }
# `mib` MiB of 'A' (0: endless) straight from busybox, on our stdout.
function as(mib) {
    fflush()
    if (mib > 0) system("head -c " mib * 1048576 " /dev/zero | tr '\\000' A")
    else system("tr '\\000' A </dev/zero")
}
# `text` is a format of busybox printf: \\n and \\000 (NUL) are written as such.
function b64(text,   cmd, out) {
    cmd = "printf '" text "' | base64 -w 0"
    out = ""
    cmd | getline out
    close(cmd)
    return out
}
function exited(fields) { ret("{\"exited\": true" fields "}") }
# The crafted output of `find ROOT [-mindepth 1] -type d|f [-print0]` (args comma-joined):
# evil_arg's entries (ROOT replaced) ending in / are the directories, the others the files.
function listing(args,   parts, list, n, item, root, dirs, out, sep, entry) {
    split(args, parts, ",")
    root = parts[1]
    dirs = (args ~ /-type,d/)
    sep = (args ~ /-print0/) ? "\\000" : "\\n"
    out = (dirs && args !~ /-mindepth/) ? root sep : ""
    n = split(arg == "" ? "ROOT/../escaped,/etc/passwd,ROOT/ok" : arg, list, ",")
    for (item = 1; item <= n; item++) {
        entry = list[item]
        gsub(/ROOT/, root, entry)
        if ((entry ~ /\/$/) != dirs) continue
        sub(/\/$/, "", entry)
        out = out entry sep
    }
    return out
}
# Whether to misbehave now (counts against evil_times).
function evil_now() {
    if (times > 0 && used >= times) return 0
    used++
    return 1
}
# Misbehaves on the current request; returns 1 when that replaced the answer.
function misbehave(   n, item, list, i, out) {
    if (mode == "wrong-sync" && cmd == "guest-sync-delimited" && evil_now()) {
        printf "%c", 255; ret(num("id") "7"); return 1
    }
    if (mode == "garbage" && cmd == "guest-sync-delimited" && evil_now()) {
        send("garbage{{{ \"not json\n"); as(amount(1)); return 0
    }
    plain = (cmd ~ /^guest-(sync-delimited|sync|ping|info)$/)
    if (mode ~ /^(flood|unterminated|huge|chatter|silent)$/ && (!plain || when == "all")) {
        if (!evil_now()) return 0
        if (mode == "silent") return 1
        if (mode == "flood") { as(amount(0)); return 1 }
        if (mode == "unterminated") { send("{\"return\": \""); as(amount(0)); return 1 }
        if (mode == "huge") { send("{\"return\": \""); as(amount(64)); send("\"}\n"); return 1 }
        fflush()
        n = amount(0)
        system("yes '{\"event\": \"noise\"}'" (n > 0 ? " | head -n " n : ""))
        return 1
    }
    if (mode == "exitcode" && cmd == "guest-exec-status" && evil_now()) {
        n = split(arg == "" ? "exitcode=300,signal=999,exitcode=-1" : arg, list, ",")
        item = list[(execs - 1) % n + 1]
        split(item, i, "=")
        exited(", \"" i[1] "\": " i[2])
        return 1
    }
    if (mode == "listing" && cmd == "guest-exec-status") {
        n = num("pid")
        if (ran_path[n] == "find" && evil_now()) {
            exited(", \"exitcode\": 0, \"out-data\": \"" b64(listing(ran_args[n])) "\"")
            return 1
        }
        if (ran_path[n] == "stat") {
            # One "SIZE MODE" line per path asked about: 5 bytes, a regular file, 0644.
            split(ran_args[n], list, ",")
            out = ""
            for (item = 1; item in list; item++)
                if (list[item] !~ /^-/ && list[item - 1] != "-c") out = out "5 81a4\\n"
            exited(", \"exitcode\": 0, \"out-data\": \"" b64(out) "\"")
            return 1
        }
    }
    return 0
}
function behave(   b, pad) {
    if (cmd == "guest-sync-delimited") { printf "%c", 255; ret(num("id")) }
    else if (cmd == "guest-sync") ret(num("id"))
    else if (cmd == "guest-ping" || cmd == "guest-file-close") ret("{}")
    else if (cmd == "guest-info") {
        b = ""
        split("guest-sync-delimited guest-sync guest-ping guest-info guest-exec guest-exec-status guest-file-open guest-file-read guest-file-write guest-file-close guest-shutdown guest-get-host-name", list, " ")
        for (pad in list) b = b (b == "" ? "" : ", ") "{\"name\": \"" list[pad] "\", \"enabled\": true, \"success-response\": true}"
        ret("{\"version\": \"0.0-evil-" mode "\", \"supported_commands\": [" b "]}")
    }
    else if (cmd == "guest-get-host-name") ret("{\"host-name\": \"evil\"}")
    else if (cmd == "guest-exec") {
        execs++
        ran_path[execs + 1000] = str("path")
        ran_args[execs + 1000] = args()
        ret("{\"pid\": " (execs + 1000) "}")
    }
    else if (cmd == "guest-exec-status") exited(", \"exitcode\": 0")
    else if (cmd == "guest-file-open") ret(77)
    else if (cmd == "guest-file-read") {
        if (mode == "listing") ret("{\"count\": 5, \"buf-b64\": \"ZXZpbAo=\", \"eof\": true}")
        else ret("{\"count\": 0, \"buf-b64\": \"\", \"eof\": true}")
    }
    else if (cmd == "guest-file-write") {
        b = str("buf-b64"); pad = (b ~ /==$/) ? 2 : (b ~ /=$/) ? 1 : 0
        ret("{\"count\": " length(b) / 4 * 3 - pad ", \"eof\": false}")
    }
    else if (cmd == "guest-shutdown") system("poweroff -f")
    else send("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"" cmd " is not here\"}}\n")
}
{
    req = $0
    cmd = str("execute")
    if (cmd == "") next
    if (!misbehave()) behave()
}
EVIL

# --- kernel modules and their dependencies --------------------------------------------------
declare -A MOD_PATH=() BUILTIN=() COPIED=()
while IFS= read -r f; do
    n=$(basename "$f"); n=${n%%.ko*}; MOD_PATH[${n//-/_}]=$f
done < <(find "$KMODS/kernel" -name '*.ko*')
while IFS= read -r f; do
    n=$(basename "$f"); n=${n%%.ko*}; BUILTIN[${n//-/_}]=1
done <"$KMODS/modules.builtin"

module_bytes() { # path -> uncompressed module on stdout
    case "$1" in
        *.ko.xz) xz -dc "$1" ;;
        *.ko.zst) need zstd zstd && zstd -dc "$1" ;;
        *.ko.gz) gzip -dc "$1" ;;
        *) cat "$1" ;;
    esac
}

copy_module() { # name -> 0 if it is available (copied or built in)
    local name=${1//-/_} src rel dep deps
    [ -n "${COPIED[$name]:-}" ] && return 0
    [ -n "${BUILTIN[$name]:-}" ] && { COPIED[$name]=builtin; return 0; }
    src=${MOD_PATH[$name]:-}
    [ -n "$src" ] || return 1
    COPIED[$name]=module
    rel=${src#"$KMODS"/}
    rel=${rel%%.ko*}.ko
    mkdir -p "$(dirname "$R/lib/modules/$KREL/$rel")"
    module_bytes "$src" >"$R/lib/modules/$KREL/$rel"
    deps=$(tr '\0' '\n' <"$R/lib/modules/$KREL/$rel" | sed -n 's/^depends=//p' | head -n1)
    for dep in ${deps//,/ }; do
        copy_module "$dep" || log "warning: $name needs $dep, which $KPKG does not ship"
    done
    return 0
}

LOAD_LIST=()
for entry in "${WANTED_MODULES[@]}"; do
    m=${entry#*:}
    if copy_module "$m"; then
        if [ "${COPIED[${m//-/_}]}" = module ]; then LOAD_LIST+=("$entry"); fi
    else
        log "warning: module $m is not in $KPKG; the guest will run without it"
    fi
done
cp "$KMODS/modules.builtin" "$KMODS/modules.order" "$R/lib/modules/$KREL/" 2>/dev/null || true
"$BUSYBOX" depmod -b "$R" "$KREL" || die "busybox depmod failed"
for group in disk main late usb; do
    for entry in "${LOAD_LIST[@]}"; do
        if [ "${entry%%:*}" = "$group" ]; then echo "${entry#*:}"; fi
    done >"$R/etc/modules-$group"
done

# --- ACPI power button: busybox acpid maps KEY_POWER to "button/power PWRF ..." -------------
printf 'PWRF power\nPWRB power\n' >"$R/etc/acpid.conf"
# With maqet.acpi_ignore_first=1 the first press is lost, as on a guest whose handler is not up yet.
printf '#!/bin/sh\nif grep -qw maqet.acpi_ignore_first=1 /proc/cmdline && [ ! -e /run/acpi-pressed ]; then\n    touch /run/acpi-pressed; exit 0\nfi\nexec poweroff -f\n' >"$R/etc/acpi/power"
chmod 755 "$R/etc/acpi/power"

# --- /init ----------------------------------------------------------------------------------
cat >"$R/init" <<'INIT'
#!/bin/sh
export PATH=/bin HOME=/root PS1='# '
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
load_modules() {
    for m in $(cat "/etc/modules-$1"); do
        modprobe "$m" 2>/dev/null || echo "MAQET-GUEST WARN: modprobe $m failed" >/dev/ttyS0 2>/dev/null
    done
}
load_modules disk &
disk_pid=$!
load_modules main

ignore_acpi=0
for arg in $(cat /proc/cmdline); do
    [ "$arg" = maqet.ignore_acpi=1 ] && ignore_acpi=1
done
[ "$ignore_acpi" = 1 ] || acpid -a /etc/acpid.conf -c /etc/acpi -l /var/log/acpid.log
wait "$disk_pid"
load_modules late
for class in /sys/bus/pci/devices/*/class; do
    case "$(cat "$class" 2>/dev/null)" in 0x0c03*) load_modules usb & break ;; esac
done
dmesg -n 1

# Hold both consoles open from now on: a tty nobody has open drops its input, and a test may type
# (QMP send-key, serial writes) as soon as it sees the banner, before a shell has started.
sleep 999999999 <>/dev/tty1 2>/dev/null &
sleep 999999999 <>/dev/ttyS0 2>/dev/null &

# Clear the VGA console so a screendump shows only what follows. Keys typed before the shell
# starts must not be echoed by the tty: the shell's line editor shows them once it reads them.
# (-icanon too: with only -echo, busybox's line editor falls back to a mode that never echoes.)
printf '\033[H\033[2J' >/dev/tty1 2>/dev/null
stty -F /dev/tty1 -echo -icanon 2>/dev/null
echo 0 >/sys/class/graphics/fbcon/cursor_blink 2>/dev/null
say() {
    echo "$*" >/dev/ttyS0 2>/dev/null
    echo "$*" >/dev/tty1 2>/dev/null
}

blocks=""
for b in /sys/block/*; do
    b=${b##*/}
    case "$b" in loop* | ram* | '*') continue ;; esac
    blocks="$blocks $b"
done
say "MAQET-GUEST BLOCK:$blocks"

for b in $blocks; do
    [ "$(dd if=/dev/$b bs=1 skip=32769 count=5 2>/dev/null)" = CD001 ] || continue
    label=$(dd if=/dev/$b bs=1 skip=32808 count=32 2>/dev/null | sed 's/ *$//')
    mkdir -p /mnt/$b
    if mount -t iso9660 -o ro /dev/$b /mnt/$b 2>/dev/null; then
        say "MAQET-GUEST CDROM ${label:-$b}: $(cd /mnt/$b && echo *)"
    fi
done

tags=""
for t in /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag; do
    [ -f "$t" ] && tags="$tags $(tr -d '\0' <"$t")"
done
if [ -n "$tags" ]; then
    say "MAQET-GUEST 9P:$tags"
    for tag in $tags; do
        mkdir -p "/mnt/9p/$tag"
        if mount -t 9p -o trans=virtio,version=9p2000.L "$tag" "/mnt/9p/$tag" 2>/dev/null; then
            say "MAQET-GUEST 9P $tag: $(cd "/mnt/9p/$tag" && echo *)"
        fi
    done
fi

# Networking for port-forward tests: QEMU's user-mode network gives the guest 10.0.2.15.
ip link set lo up 2>/dev/null
if ip link set eth0 up 2>/dev/null; then
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
fi
httpd -p 8080 -h /www

no_agent=0
evil_agent=''
for arg in $(cat /proc/cmdline); do
    [ "$arg" = maqet.no_agent=1 ] && no_agent=1
    case "$arg" in maqet.evil_agent=*) evil_agent=${arg#*=} ;; esac
done
for port in /sys/class/virtio-ports/*; do
    [ "$no_agent" = 0 ] && [ -f "$port/name" ] || continue
    [ "$(cat "$port/name")" = org.qemu.guest_agent.0 ] || continue
    if [ -n "$evil_agent" ]; then
        # The port reads end-of-file while the host side is not connected: retry soon.
        (while true; do /sbin/evil-agent "/dev/${port##*/}" 2>/dev/null; sleep 0.2; done) &
        say "MAQET-GUEST EVIL AGENT $evil_agent /dev/${port##*/}"
        continue
    fi
    mkdir -p /var/run/qemu-ga
    (while true; do
        PATH=/bin:/sbin:/usr/sbin qemu-ga -m virtio-serial -p "/dev/${port##*/}" \
            -t /var/run/qemu-ga -f /var/run/qemu-ga.pid >/dev/null 2>&1
        sleep 1
    done) &
    say "MAQET-GUEST AGENT /dev/${port##*/}"
done

say "MAQET-GUEST READY"

# tty1 (VGA): an interactive shell, so keys sent with QMP send-key show on screen.
# The shell opens tty1 as session leader, so tty1 becomes its controlling tty (job control, ^C).
# With maqet.tty1=login, tty1 asks for a login first (/sbin/screen-login; root, password maqet).
tty1_program='sh -i'
grep -qw maqet.tty1=login /proc/cmdline && tty1_program=/sbin/screen-login
(while true; do setsid sh -c "exec $tty1_program <>/dev/tty1 >&0 2>&1"; sleep 1; done) &
# ttyS0: a shell reading the serial tty but writing to a pipe, hence non-interactive (no prompt,
# no line-editing escapes); the tty itself echoes what is typed.
(while true; do setsid sh -c 'sh <>/dev/ttyS0 2>&1 | cat >/dev/ttyS0'; sleep 1; done) &
while true; do wait; sleep 60; done
INIT
chmod 755 "$R/init"

# --- pack -----------------------------------------------------------------------------------
STAGE="$WORK/out"
mkdir "$STAGE"
(cd "$R" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -6 >"$STAGE/initrd.img"
# Under TCG, unpacking the XZ-compressed bzImage takes ~3 s of every boot. The kernel has a PVH
# entry point, so QEMU can load the uncompressed ELF directly: ship that when possible.
KERNEL_FILE=vmlinuz
if grep -qx 'CONFIG_PVH=y' "$WORK/kpkg/boot/config-$KREL" && extract_vmlinux "$VMLINUZ" "$STAGE/vmlinux"; then
    KERNEL_FILE=vmlinux
else
    log "warning: cannot unpack $VMLINUZ to a PVH ELF; using the bzImage (slower boot)"
    rm -f "$STAGE/vmlinux"
    cp "$VMLINUZ" "$STAGE/vmlinuz"
fi
echo "$KERNEL_FILE" >"$STAGE/KERNEL_FILE"
cat >"$STAGE/VERSION" <<EOF
key=$KEY
script=$HASH
kernel_file=$KERNEL_FILE
kernel_package=$KPKG $KVER
kernel_release=$KREL
busybox=$BBVER
qemu_ga=$(dpkg-deb -f "$WORK"/"$QGA_PKG"_*.deb Version)
modules=${LOAD_LIST[*]}
EOF
mv "$STAGE" "$OUT"
echo "$KEY" >"$STAMP.tmp.$$" && mv "$STAMP.tmp.$$" "$STAMP"

# Older builds (of earlier versions of this script) are no longer reachable.
for old in "$CACHE_ROOT"/*/; do
    old=${old%/}
    [ "$old" = "$OUT" ] || rm -rf "$old"
done
find "$CACHE_ROOT" -maxdepth 1 -name 'resolved-*' ! -name "resolved-$HASH" -delete
log "done: $(du -sh "$OUT" | cut -f1)"
print_result "$OUT"
