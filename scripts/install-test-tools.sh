#!/bin/sh
# Installs the oracle tools vdisk's tests compare against (Debian packages):
# qemu-img (qemu-utils), the libyal readers (vhdiinfo/vhdimount, vmdkinfo,
# qcowinfo), fuse3 for vhdimount, and GNU time for `npm run bench`; and for
# test/e2e/boot.test.ts, which boots converted disks: qemu-system-x86, and
# what scripts/make-boot-disk.sh builds the disk with (syslinux,
# syslinux-common, mtools, fdisk, dosfstools, busybox-static, cpio, kmod;
# it fetches the kernel itself with `apt-get download linux-image-amd64`);
# and for `vdisk serve`, the NBD clients it is tested with: nbdinfo and
# nbdcopy (libnbd-bin), qemu-io and qemu-nbd (qemu-utils), and nbdkit; and
# for the S3 backup store, a real S3 server that scripts/start-s3.sh runs on
# loopback: Ceph radosgw over a one-monitor, one-OSD cluster (ceph-mon,
# ceph-osd, radosgw, and ceph-common for the ceph and radosgw-admin commands);
# and for test/web/page.test.ts, Debian's chromium, which playwright-core
# drives (it downloads no browser of its own).
set -eu
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  qemu-utils libvhdi-utils libvmdk-utils libqcow-utils fuse3 time \
  qemu-system-x86 syslinux syslinux-common mtools fdisk dosfstools busybox-static cpio kmod \
  libnbd-bin nbdkit \
  ceph-mon ceph-osd radosgw ceph-common \
  chromium >/dev/null
echo "install-test-tools: $(qemu-img --version | head -n 1); $(vhdiinfo -V 2>&1 | head -n 1); $(qemu-system-x86_64 --version | head -n 1); $(nbdinfo --version | head -n 1); $(radosgw --version | head -n 1); $(chromium --version | head -n 1)"
