#!/bin/sh
# Installs the oracle tools vdisk's tests compare against (Debian packages):
# qemu-img (qemu-utils), the libyal readers (vhdiinfo/vhdimount, vmdkinfo,
# qcowinfo), fuse3 for vhdimount, and GNU time for `npm run bench`.
set -eu
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  qemu-utils libvhdi-utils libvmdk-utils libqcow-utils fuse3 time >/dev/null
echo "install-test-tools: $(qemu-img --version | head -n 1); $(vhdiinfo -V 2>&1 | head -n 1)"
