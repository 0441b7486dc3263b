#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Installs what the nested lane needs on the host, from Debian's archive,
# if it is missing: QEMU (x86 system emulator), a static busybox for the
# guest, cpio for the initramfs.  Runs `apt-get update` at most once, and
# only when something has to be installed.  Needs root (or sudo) then.
#
# usage: nested/deps.sh

set -eu

missing=
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing="$missing qemu-system-x86"
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx ash \
	&& ! ldd /bin/busybox >/dev/null 2>&1 || missing="$missing busybox-static"
command -v cpio >/dev/null 2>&1 || missing="$missing cpio"

[ -z "$missing" ] && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "nested: installing$missing"
$sudo apt-get update -qq
# busybox-static replaces (conflicts with) the dynamic busybox package.
# shellcheck disable=SC2086 # $missing is a list of packages
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
