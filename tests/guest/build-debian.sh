#!/bin/bash
# Builds a small Debian 12 guest disk (qcow2) from Debian's packages, once, and caches it.
#
# Unlike the busybox test guest (build-guest.sh), this is a whole distribution booting from its
# own disk through the BIOS: GRUB in the MBR, one ext4 partition, systemd, Debian's cloud kernel
# (virtio drivers; no AHCI), cloud-init (NoCloud datasource, then None), qemu-guest-agent (started
# by udev when the virtio port org.qemu.guest_agent.0 exists), openssh-server (host keys made at
# first boot) and sudo. The kernel logs to tty1 and ttyS0 (115200); ttyS0 comes last, so it is
# /dev/console: what boot services print there (cloud-init's SSH host key block, which maqet reads
# from the serial log) reaches the serial console. systemd starts a getty on ttyS0, so `login:`
# shows on the serial console. /etc/machine-id is empty: each VM gets its own.
#
# With --efi it builds the UEFI variant instead: a GPT disk whose first partition is an EFI
# system partition (FAT) holding Debian's signed shim as the removable-media loader
# (/EFI/BOOT/BOOTX64.EFI, then grubx64.efi and mmx64.efi beside it) and the GRUB config the
# signed GRUB reads (/EFI/debian/grub.cfg), so it boots under OVMF with Secure Boot enabled
# (Microsoft's keys enrolled: shim is signed by Microsoft, GRUB and the cloud kernel by Debian).
# The image also holds mokutil, efibootmgr and tpm2-tools. The signed binaries are copied into
# place by hand: grub-install cannot work on a disk image without a loop device.
#
# Output: <cache>/<key>/{debian-12.qcow2,VERSION} (--efi: debian-12-efi.qcow2), printed as
# DEBIAN_DIR=... and DEBIAN_IMAGE=...
#   cache: ${MAQET_DEBIAN_GUEST_DIR:-$HOME/.cache/maqet/debian-guest} (--efi: the same + "-efi")
#   key:   hash of this script + the candidate versions of the packages below (apt-cache)
# Needs: Debian 12, root (mmdebstrap --mode=root, apt-get), mmdebstrap, grub-pc-bin, fdisk,
# e2fsprogs, qemu-utils (--efi: dosfstools and mtools instead of grub-pc-bin); missing tools
# are installed with apt-get.
# Safe to run concurrently (flock) and cheap to run again (a resolved key is reused for a day).
# The image is built in a temporary directory inside the cache and renamed into place at the end,
# so the cache never holds a half-written image.
set -euo pipefail

VARIANT=bios
case "${1:-}" in
    "") ;;
    --efi) VARIANT=efi ;;
    *) echo "usage: $0 [--efi]" >&2; exit 2 ;;
esac

CACHE_ROOT="${MAQET_DEBIAN_GUEST_DIR:-${HOME:-/root}/.cache/maqet/debian-guest}"
SUITE=bookworm
MIRRORS=(
    "deb http://deb.debian.org/debian $SUITE main"
    "deb http://deb.debian.org/debian $SUITE-updates main"
    "deb http://deb.debian.org/debian-security $SUITE-security main"
)
PACKAGES=(
    systemd systemd-sysv udev dbus linux-image-cloud-amd64 initramfs-tools
    cloud-init cloud-guest-utils qemu-guest-agent openssh-server sudo
    e2fsprogs netbase iproute2 ca-certificates zstd
)
DISK_SIZE_MIB=2048
PART_START_SECTOR=2048 # 1 MiB: the gap before it holds GRUB's core.img
IMAGE_NAME=debian-12.qcow2
ESP_SIZE_MIB=64
if [ "$VARIANT" = efi ]; then
    # Its own cache directory: each variant's clean-up removes every other build in its own.
    CACHE_ROOT="$CACHE_ROOT-efi"
    IMAGE_NAME=debian-12-efi.qcow2
    PACKAGES+=(shim-signed grub-efi-amd64-signed mokutil efibootmgr tpm2-tools dosfstools)
else
    PACKAGES+=(grub-pc-bin)
fi
RESOLVE_MAX_AGE_MIN=1440
KERNEL_CMDLINE="console=tty1 console=ttyS0,115200"
# Drivers for the root disk on maqet's interfaces (virtio is the default; the cloud kernel has
# no AHCI, so `interface: sata` cannot boot this image).
INITRAMFS_MODULES=(virtio_pci virtio_blk virtio_scsi sd_mod ata_piix)
GRUB_MODULES=(biosdisk part_msdos ext2 normal linux search search_fs_uuid configfile echo test)

log() { echo "build-debian: $*" >&2; }
die() { log "error: $*"; exit 1; }
need() { # command package: installs package if command is missing
    command -v "$1" >/dev/null && return 0
    log "installing $2 (for $1)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2 ||
        die "cannot install $2; install it by hand"
}

script_hash() { sha256sum "${BASH_SOURCE[0]}" | cut -c1-16; }

print_result() {
    echo "DEBIAN_DIR=$1"
    echo "DEBIAN_IMAGE=$1/$IMAGE_NAME"
}

# Prints "package version" for every package (and the kernel the meta package points at), or
# nothing when apt's lists do not know one of them.
resolve_packages() {
    local out
    out=$(apt-cache show --no-all-versions "${PACKAGES[@]}" 2>/dev/null | awk '
        /^Package: / { pkg = $2 }
        /^Version: / { print pkg, $2; n++ }
        /^Depends: / && pkg == "linux-image-cloud-amd64" {
            for (i = 2; i <= NF; i++) if ($i ~ /^linux-image-[0-9]/) { k = $i; sub(/,$/, "", k); print "kernel", k }
        }')
    [ "$(grep -vc '^kernel ' <<<"$out")" -eq "${#PACKAGES[@]}" ] && echo "$out"
}

resolve_or_update() {
    local resolved
    resolved=$(resolve_packages || true)
    if [ -z "$resolved" ]; then
        log "apt lists do not know all of ${PACKAGES[*]}; running apt-get update"
        apt-get update -qq >&2 || die "apt-get update failed; check the network and /etc/apt/sources.list"
        resolved=$(resolve_packages || true)
    fi
    [ -n "$resolved" ] || die "cannot resolve ${PACKAGES[*]} with apt-cache"
    echo "$resolved"
}

# --- fast path: a key resolved recently for this very script -------------------------------
HASH=$(script_hash)
STAMP="$CACHE_ROOT/resolved-$HASH"
if [ -f "$STAMP" ] && [ -z "$(find "$STAMP" -mmin +"$RESOLVE_MAX_AGE_MIN" 2>/dev/null)" ]; then
    dir="$CACHE_ROOT/$(cat "$STAMP")"
    if [ -f "$dir/VERSION" ] && [ -f "$dir/$IMAGE_NAME" ]; then print_result "$dir"; exit 0; fi
fi

[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap builds the root file system as root)"
RESOLVED=$(resolve_or_update)
KEY=$(printf '%s\n' "$HASH" "$RESOLVED" | sha256sum | cut -c1-16)
OUT="$CACHE_ROOT/$KEY"
mkdir -p "$CACHE_ROOT"

exec 9>"$CACHE_ROOT/.lock"
flock 9
if [ -f "$OUT/VERSION" ] && [ -f "$OUT/$IMAGE_NAME" ]; then
    echo "$KEY" >"$STAMP.tmp.$$" && mv "$STAMP.tmp.$$" "$STAMP"
    print_result "$OUT"
    exit 0
fi

need mmdebstrap mmdebstrap
need sfdisk fdisk
need mke2fs e2fsprogs
need qemu-img qemu-utils
if [ "$VARIANT" = efi ]; then
    need mkfs.vfat dosfstools
    need mcopy mtools
else
    need grub-mkimage grub-pc-bin
    [ -f /usr/lib/grub/i386-pc/boot.img ] || need /usr/lib/grub/i386-pc/boot.img grub-pc-bin
fi

STARTED=$(date +%s)
log "building the Debian guest (key $KEY) into $OUT"
WORK=$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
R="$WORK/root"

# An initramfs-tools hook: puts the root disk's drivers in the initramfs and loads them at boot.
cat >"$WORK/initramfs-hook" <<EOF
#!/bin/sh
# Added by maqet's build-debian.sh: the drivers of the root disk (MODULES=list adds no others).
[ "\$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
mkdir -p "\$DESTDIR/conf"
for module in ${INITRAMFS_MODULES[*]}; do
    manual_add_modules "\$module"
    echo "\$module" >>"\$DESTDIR/conf/modules"
done
EOF

# --- root file system ------------------------------------------------------------------------
# Manual pages, documentation and translations are left out (copyright files are kept). The
# initramfs holds only the drivers that find the root disk (written before the kernel installs):
# with every storage driver ("most") it is ~15 MB, and loading them costs seconds under TCG.
mmdebstrap --mode=root --variant=apt --format=directory --quiet \
    --essential-hook="mkdir -p \"\$1/etc/initramfs-tools/conf.d\" \"\$1/etc/initramfs-tools/hooks\"" \
    --essential-hook="echo MODULES=list >\"\$1/etc/initramfs-tools/conf.d/maqet.conf\"" \
    --essential-hook="install -m 0755 '$WORK/initramfs-hook' \"\$1/etc/initramfs-tools/hooks/maqet-disk-drivers\"" \
    --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    "$SUITE" "$R" "${MIRRORS[@]}" >&2 || die "mmdebstrap failed (see above)"

KREL=$(basename "$(ls -d "$R"/lib/modules/*/ | head -n1)")
[ -f "$R/boot/vmlinuz-$KREL" ] || die "no kernel in the root file system"
[ -f "$R/boot/initrd.img-$KREL" ] || die "no initramfs for $KREL in the root file system"

ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
cat >"$R/etc/fstab" <<EOF
UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1
EOF
ESP_VOLID=$(od -An -tx4 -N4 /dev/urandom | tr -d ' ' | tr '[:lower:]' '[:upper:]')
if [ "$VARIANT" = efi ]; then
    echo "UUID=${ESP_VOLID:0:4}-${ESP_VOLID:4:4} /boot/efi vfat umask=0077,nofail 0 2" >>"$R/etc/fstab"
    mkdir -p "$R/boot/efi"
fi
echo debian >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"

# cloud-init: a NoCloud seed (cidata disk or SMBIOS) when there is one, else nothing to do.
cat >"$R/etc/cloud/cloud.cfg.d/90-maqet-datasource.cfg" <<'EOF'
datasource_list: [NoCloud, None]
EOF

# Network: systemd-networkd, DHCP on every Ethernet link unless cloud-init wrote its own
# config (its files sort first). Waiting for "online" is short: a VM may have no network.
mkdir -p "$R/etc/systemd/network" "$R/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat >"$R/etc/systemd/network/99-maqet-dhcp.network" <<'EOF'
[Match]
Type=ether

[Network]
DHCP=yes
EOF
cat >"$R/etc/systemd/system/systemd-networkd-wait-online.service.d/maqet.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=15
EOF

# sshd: host keys are made at first boot, so no two VMs share them (cloud-init's ssh module
# makes them when it runs first; this unit covers a boot without cloud-init).
cat >"$R/etc/systemd/system/maqet-ssh-host-keys.service" <<'EOF'
[Unit]
Description=Generate missing SSH host keys
After=cloud-init.service
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
EOF
rm -f "$R"/etc/ssh/ssh_host_*

chroot "$R" systemctl enable --quiet systemd-networkd.service maqet-ssh-host-keys.service ssh.service \
    >&2 || die "systemctl enable failed in the root file system"

# Per-machine state: made again at first boot.
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id" "$R/var/lib/systemd/random-seed"
rm -rf "$R/var/lib/cloud" "$R"/var/log/*.log "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/*_*
[ -e "$R/var/lib/dbus" ] && ln -s /etc/machine-id "$R/var/lib/dbus/machine-id"

# --- BIOS: MBR, GRUB's core.img in the gap before the one ext4 partition --------------------
build_bios_disk() {
    # GRUB's modules in /boot/grub, core.img in the gap before the partition.
    mkdir -p "$R/boot/grub/i386-pc"
    cp "$R"/usr/lib/grub/i386-pc/*.mod "$R"/usr/lib/grub/i386-pc/*.lst "$R/boot/grub/i386-pc/"
    cat >"$R/boot/grub/grub.cfg" <<EOF
set timeout=0
set default=0
menuentry 'Debian GNU/Linux 12' {
    search --no-floppy --fs-uuid --set=root $ROOT_UUID
    linux /boot/vmlinuz-$KREL root=UUID=$ROOT_UUID ro $KERNEL_CMDLINE
    initrd /boot/initrd.img-$KREL
}
EOF
    grub-mkimage -O i386-pc -d "$R/usr/lib/grub/i386-pc" -o "$WORK/core.img" \
        -p '(hd0,msdos1)/boot/grub' "${GRUB_MODULES[@]}" || die "grub-mkimage failed"
    CORE_SECTORS=$(( ($(stat -c %s "$WORK/core.img") + 511) / 512 ))
    [ "$CORE_SECTORS" -lt "$((PART_START_SECTOR - 1))" ] ||
        die "core.img ($CORE_SECTORS sectors) does not fit before the partition"

    # The disk: MBR + one bootable Linux partition holding the ext4 root.
    PART_BYTES=$(( DISK_SIZE_MIB * 1024 * 1024 - PART_START_SECTOR * 512 ))
    truncate -s "$PART_BYTES" "$WORK/root.ext4"
    # No metadata_csum_seed/orphan_file: GRUB 2.06 cannot read file systems with them.
    mke2fs -q -t ext4 -F -L debian-root -U "$ROOT_UUID" -O ^metadata_csum_seed,^orphan_file \
        -E root_owner=0:0 -d "$R" "$WORK/root.ext4" >&2 || die "mke2fs -d failed"
    DISK="$WORK/disk.raw"
    truncate -s "${DISK_SIZE_MIB}M" "$DISK"
    printf 'label: dos\nstart=%s, type=83, bootable\n' "$PART_START_SECTOR" |
        sfdisk -q "$DISK" >&2 || die "sfdisk failed"
    dd if="$WORK/root.ext4" of="$DISK" bs=1M seek=1 conv=notrunc,sparse status=none
    rm -f "$WORK/root.ext4"

    # What grub-bios-setup would do, without a block device: boot.img's code (440 bytes,
    # keeping the partition table) in the MBR, core.img from sector 1. boot.img already loads
    # its next stage from sector 1 (kernel_sector at 0x5c), and core.img's first sector
    # (diskboot) reads the rest from sector 2 on (its block list, filled in by grub-mkimage). As
    # grub-bios-setup does for hard disks, the jump at 0x66 that distrusts the BIOS's boot
    # drive number becomes two NOPs.
    dd if="$R/usr/lib/grub/i386-pc/boot.img" of="$DISK" bs=440 count=1 conv=notrunc status=none
    printf '\x90\x90' | dd of="$DISK" bs=1 seek=$((0x66)) conv=notrunc status=none
    [ "$(od -An -tu4 -j $((0x5c)) -N4 "$DISK" | tr -d ' ')" = 1 ] ||
        die "boot.img does not load its next stage from sector 1; this GRUB is not supported"
    dd if="$WORK/core.img" of="$DISK" bs=512 seek=1 conv=notrunc status=none
}

# --- EFI: GPT, an EFI system partition with shim and GRUB (signed), then the ext4 root -------
build_efi_disk() {
    local shim=$R/usr/lib/shim/shimx64.efi.signed mok=$R/usr/lib/shim/mmx64.efi.signed
    local grub=$R/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed f root_start root_sectors
    for f in "$shim" "$mok" "$grub"; do [ -f "$f" ] || die "no $f in the root file system"; done
    # Debian's signed GRUB is one image with its modules inside; its prefix is /EFI/debian on
    # the partition it was loaded from, so it reads the config there.
    mkdir -p "$R/boot/grub"
    cat >"$R/boot/grub/grub.cfg" <<EOF
set timeout=0
set default=0
menuentry 'Debian GNU/Linux 12' {
    search --no-floppy --fs-uuid --set=root $ROOT_UUID
    linux /boot/vmlinuz-$KREL root=UUID=$ROOT_UUID ro $KERNEL_CMDLINE
    initrd /boot/initrd.img-$KREL
}
EOF

    DISK="$WORK/disk.raw"
    truncate -s "${DISK_SIZE_MIB}M" "$DISK"
    # The ESP first (UEFI's type GUID), then the Linux root filling the rest (GPT keeps a
    # backup header in the last sectors, so sfdisk sizes the root partition).
    printf 'label: gpt\nstart=%s, size=%sMiB, type=U, name="EFI system partition"\ntype=L, name=debian-root\n' \
        "$PART_START_SECTOR" "$ESP_SIZE_MIB" | sfdisk -q "$DISK" >&2 || die "sfdisk failed"
    read -r root_start root_sectors < <(sfdisk -J "$DISK" | python3 -c '
import json, sys
p = json.load(sys.stdin)["partitiontable"]["partitions"][1]
print(p["start"], p["size"])') || die "cannot read the root partition back from sfdisk"

    local esp="$WORK/esp.fat"
    mkfs.vfat -C -F 16 -n EFI -i "$ESP_VOLID" "$esp" $((ESP_SIZE_MIB * 1024)) >/dev/null ||
        die "mkfs.vfat failed"
    mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/debian || die "mmd failed on the ESP"
    mcopy -i "$esp" "$shim" ::/EFI/BOOT/BOOTX64.EFI &&
        mcopy -i "$esp" "$grub" ::/EFI/BOOT/grubx64.efi &&
        mcopy -i "$esp" "$mok" ::/EFI/BOOT/mmx64.efi &&
        mcopy -i "$esp" "$R/boot/grub/grub.cfg" ::/EFI/debian/grub.cfg || die "mcopy failed on the ESP"
    dd if="$esp" of="$DISK" bs=512 seek="$PART_START_SECTOR" conv=notrunc status=none
    rm -f "$esp"

    truncate -s $((root_sectors * 512)) "$WORK/root.ext4"
    # No metadata_csum_seed/orphan_file: GRUB 2.06 cannot read file systems with them.
    mke2fs -q -t ext4 -F -L debian-root -U "$ROOT_UUID" -O ^metadata_csum_seed,^orphan_file \
        -E root_owner=0:0 -d "$R" "$WORK/root.ext4" >&2 || die "mke2fs -d failed"
    dd if="$WORK/root.ext4" of="$DISK" bs=512 seek="$root_start" conv=notrunc,sparse status=none
    rm -f "$WORK/root.ext4"
}

if [ "$VARIANT" = efi ]; then build_efi_disk; else build_bios_disk; fi

STAGE="$WORK/out"
mkdir "$STAGE"
qemu-img convert -q -f raw -O qcow2 -c "$DISK" "$STAGE/$IMAGE_NAME" || die "qemu-img convert failed"
rm -f "$DISK"
cat >"$STAGE/VERSION" <<EOF
key=$KEY
script=$HASH
suite=$SUITE
kernel_release=$KREL
kernel_cmdline=$KERNEL_CMDLINE
root_uuid=$ROOT_UUID
variant=$VARIANT
disk_mib=$DISK_SIZE_MIB
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_seconds=$(( $(date +%s) - STARTED ))
$(chroot "$R" dpkg-query -W -f '${Package} ${Version}\n' "${PACKAGES[@]}" | sed 's/^/package=/')
EOF
mv "$STAGE" "$OUT"
echo "$KEY" >"$STAMP.tmp.$$" && mv "$STAMP.tmp.$$" "$STAMP"

# Older builds (of earlier versions of this script or packages) are no longer reachable.
for old in "$CACHE_ROOT"/*/; do
    old=${old%/}
    [ "$old" = "$OUT" ] || rm -rf "$old"
done
find "$CACHE_ROOT" -maxdepth 1 -name 'resolved-*' ! -name "resolved-$HASH" -delete
log "done in $(( $(date +%s) - STARTED )) s: $(du -h "$OUT/$IMAGE_NAME" | cut -f1)"
print_result "$OUT"
