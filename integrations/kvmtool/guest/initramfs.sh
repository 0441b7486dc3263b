#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Packs the kvmtool lane's second-level guest initramfs (an uncompressed
# newc cpio): the static busybox, the guest's /init (init.sh here), the
# static kvmhold-checker, and the virtio modules of the nested lane's
# kernel (nested/kernel.sh: KERNELDIR/modules, in KERNELDIR/modules/
# l2.order's order) into lib/modules/.
#
# usage: integrations/kvmtool/guest/initramfs.sh OUT KERNELDIR CHECKER

set -eu

[ $# -eq 3 ] || { echo "usage: $0 OUT KERNELDIR CHECKER" >&2; exit 2; }
out=$1 kdir=$2 checker=$3
here=$(cd "$(dirname "$0")" && pwd)
busybox=/bin/busybox

ldd "$busybox" >/dev/null 2>&1 && { echo "$busybox is not static (apt-get install busybox-static)" >&2; exit 1; }
ldd "$checker" >/dev/null 2>&1 && { echo "$checker is not statically linked" >&2; exit 1; }
[ -f "$kdir/modules/l2.order" ] || { echo "$kdir has no modules/l2.order (nested/kernel.sh adds it)" >&2; exit 1; }

root=$(mktemp -d "${TMPDIR:-/tmp}/kvmhold-l2-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/lib/modules"
cp "$busybox" "$root/bin/busybox"
cp "$here/init.sh" "$root/init"
chmod 755 "$root/init"
strip -o "$root/bin/kvmhold-checker" "$checker"
while read -r m; do
	strip --strip-debug -o "$root/lib/modules/$m.ko" "$kdir/modules/$m.ko"
done < "$kdir/modules/l2.order"
cp "$kdir/modules/l2.order" "$root/lib/modules/l2.order"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
