#!/bin/sh
# Builds a tiny BIOS-bootable raw disk for test/e2e/boot.test.ts, from Debian
# packages and without root, loop devices or mounts:
#
#   make-boot-disk.sh OUT.raw DISK_MIB DATA_FILE TAIL_FILE
#
# Layout of OUT.raw (DISK_MIB MiB):
#   sector 0           syslinux mbr.bin + an MBR partition table (sfdisk)
#   1 MiB .. end-1 MiB one active FAT partition (mkfs.fat --offset) holding
#                      syslinux (ldlinux.sys, ldlinux.c32, syslinux.cfg), the
#                      Debian kernel (vmlinuz), a busybox initramfs
#                      (initrd.gz) and DATA_FILE as data.bin
#   last MiB           TAIL_FILE (exactly 1 MiB), outside every partition
#
# The kernel comes from `apt-get download linux-image-amd64` and the
# linux-image-* package it depends on, unless VDISK_BOOT_KERNEL_DEB names a
# linux-image-*.deb already on disk. Every block, virtio and FAT driver is a
# module in Debian's kernel, so the initramfs carries the .ko files (with
# their dependencies, resolved by depmod/modprobe --show-depends) and its
# /init loads them with insmod, then prints on the serial console:
#
#   VDISK-BOOT-OK
#   VDISK-DISK <sda|vda>
#   VDISK-SIZE <bytes the guest sees>
#   VDISK-DATA <sha256 of data.bin read through vfat>
#   VDISK-TAIL <sha256 of the disk's last MiB read from the block device>
#   VDISK-END
#
# (or VDISK-FAIL <reason>) and powers off. Exits 3 when the kernel cannot be
# downloaded, 2 on bad arguments, 1 on any other failure. Needs: apt-get, dpkg-deb, depmod
# and modprobe (kmod), busybox-static, cpio, gzip, sfdisk (fdisk),
# mkfs.fat (dosfstools), mtools, syslinux and syslinux-common.
set -eu
PATH="$PATH:/usr/sbin:/sbin"

[ $# -eq 4 ] || { echo "usage: $0 OUT.raw DISK_MIB DATA_FILE TAIL_FILE" >&2; exit 2; }
out=$1 mib=$2 data=$3 tail=$4
[ "$mib" -ge 8 ] || { echo "$0: DISK_MIB must be at least 8" >&2; exit 2; }
[ "$(stat -c %s "$tail")" -eq 1048576 ] || { echo "$0: $tail must be exactly 1 MiB" >&2; exit 2; }
ldd /bin/busybox >/dev/null 2>&1 && { echo "$0: /bin/busybox is dynamic; install busybox-static" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/vdisk-bootdisk-XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- kernel ------------------------------------------------------------------
deb=${VDISK_BOOT_KERNEL_DEB:-}
if [ -z "$deb" ]; then
  mkdir "$work/deb"
  # apt drops privileges to _apt for downloads, which cannot write into a
  # root-owned mktemp directory; download as root in that case.
  sandbox=""
  [ "$(id -u)" = 0 ] && sandbox="-o APT::Sandbox::User=root"
  # shellcheck disable=SC2086
  (cd "$work/deb" && apt-get -qq $sandbox download linux-image-amd64) || exit 3
  pkg=$(dpkg-deb -f "$work"/deb/linux-image-amd64_*.deb Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[^ ]*\).*/\1/p' | head -n 1)
  [ -n "$pkg" ] || { echo "$0: linux-image-amd64 names no linux-image package" >&2; exit 1; }
  # shellcheck disable=SC2086
  (cd "$work/deb" && apt-get -qq $sandbox download "$pkg") || exit 3
  deb=$(ls "$work/deb/${pkg}"_*.deb)
fi
dpkg-deb -x "$deb" "$work/kernel"
kver=$(ls "$work/kernel/lib/modules")
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"

# --- initramfs ---------------------------------------------------------------
root="$work/initramfs"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/mnt" "$root/lib/modules"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
depmod -b "$work/kernel" "$kver"
# ata_piix + sd_mod: the IDE disk; virtio_pci + virtio_blk: the virtio disk;
# vfat + nls: reading data.bin. modprobe prints each module after its
# dependencies; keep the first occurrence of each.
for m in ata_piix sd_mod virtio_pci virtio_blk vfat nls_cp437 nls_ascii nls_utf8; do
  modprobe -d "$work/kernel" -S "$kver" --show-depends "$m"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$work/modules.list"
while read -r ko; do
  cp "$ko" "$root/lib/modules/"
  basename "$ko" >>"$root/modules.order"
done <"$work/modules.list"

cat >"$root/init" <<'EOF'
#!/bin/sh
# vdisk boot test: load the disk drivers, report what the disk holds, power off.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "VDISK-FAIL $*"; poweroff -f; }
# A module may fail harmlessly (crct10dif-pclmul on a CPU without PCLMUL).
while read -r ko; do insmod "/lib/modules/$ko" 2>/dev/null; done </modules.order
disk=""
for _ in $(seq 1 300); do
  for d in vda sda; do
    if [ -b "/dev/$d" ] && [ -b "/dev/${d}1" ]; then disk=$d; break 2; fi
  done
  usleep 100000
done
[ -n "$disk" ] || fail "no /dev/vda1 or /dev/sda1 after 30 s"
echo VDISK-BOOT-OK
echo "VDISK-DISK $disk"
sectors=$(cat "/sys/block/$disk/size")
echo "VDISK-SIZE $((sectors * 512))"
mount -t vfat -o ro "/dev/${disk}1" /mnt || fail "mount /dev/${disk}1"
echo "VDISK-DATA $(sha256sum /mnt/data.bin | cut -d ' ' -f 1)"
umount /mnt
echo "VDISK-TAIL $(dd if="/dev/$disk" bs=512 skip=$((sectors - 2048)) count=2048 2>/dev/null | sha256sum | cut -d ' ' -f 1)"
echo VDISK-END
poweroff -f
EOF
chmod 755 "$root/init"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 >"$work/initrd.gz"

# --- disk --------------------------------------------------------------------
start=2048                                  # 1 MiB, in 512-byte sectors
size=$(( (mib - 2) * 2048 ))                # up to the last MiB
rm -f "$out"
truncate -s "${mib}M" "$out"
printf 'label: dos\nlabel-id: 0x7d15c001\nstart=%s, size=%s, type=6, bootable\n' "$start" "$size" | sfdisk -q "$out"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$out" bs=440 count=1 conv=notrunc status=none
mkfs.fat -F 16 -n VDISKBOOT -i 7d15c001 -h "$start" --offset="$start" "$out" $((size / 2)) >/dev/null
cat >"$work/syslinux.cfg" <<'EOF'
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND console=ttyS0 quiet panic=-1
EOF
img="$out@@$((start * 512))"
export MTOOLS_SKIP_CHECK=1
mcopy -i "$img" "$work/syslinux.cfg" "$work/vmlinuz" "$work/initrd.gz" /usr/lib/syslinux/modules/bios/ldlinux.c32 ::/
mcopy -i "$img" "$data" ::/data.bin
syslinux --offset $((start * 512)) --install "$out"
dd if="$tail" of="$out" bs=1M seek=$((mib - 1)) conv=notrunc status=none
echo "make-boot-disk: $out ($mib MiB, kernel $kver, initrd $(stat -c %s "$work/initrd.gz") bytes, $(wc -l <"$work/modules.list") modules)"
