#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Packs the nested lane's initramfs (an uncompressed newc cpio: the guest
# kernel need not decompress it under emulation): the static busybox, the
# guest's /init (nested/init.sh), the test runner tests/run.sh, the KVM
# modules from nested/kernel.sh, and the static programs to run.
#
# usage: nested/initramfs.sh OUT KERNELDIR check PROGRAM...
#        nested/initramfs.sh OUT KERNELDIR bench PROGRAM
# environment (written into the guest's /etc/kvmhold-nested.conf):
#   TEST_TIMEOUT   seconds per test program inside the guest
#   TESTS_RUN      test names to run (default: every PROGRAM)
#   BENCH_ARGS     arguments of the benchmark

set -eu

[ $# -ge 4 ] || { echo "usage: $0 OUT KERNELDIR check|bench PROGRAM..." >&2; exit 2; }
out=$1 kdir=$2 mode=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
busybox=/bin/busybox

ldd "$busybox" >/dev/null 2>&1 && { echo "$busybox is not static (apt-get install busybox-static)" >&2; exit 1; }

root=$(mktemp -d "${TMPDIR:-/tmp}/kvmhold-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" \
	"$root/etc" "$root/lib/modules" "$root/tests"
cp "$busybox" "$root/bin/busybox"
cp "$here/init.sh" "$root/init"
cp "$here/../tests/run.sh" "$root/bin/run.sh"
chmod 755 "$root/init" "$root/bin/run.sh"
for m in irqbypass ccp kvm kvm-amd; do
	cp "$kdir/modules/$m.ko" "$root/lib/modules/"
done

# Programs lose their debug information: smaller, and faster to load.
case $mode in
check) dest=$root/tests ;;
bench) dest=$root/bin ;;
*) echo "$0: mode is check or bench, not $mode" >&2; exit 2 ;;
esac
for p in "$@"; do
	if ldd "$p" >/dev/null 2>&1; then
		echo "$p is not statically linked (build with STATIC=1)" >&2
		exit 1
	fi
	strip -o "$dest/$(basename "$p")" "$p"
done

# Single-quoted values for the guest's sh (a ' inside becomes '\'').
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
	echo "MODE=$(q "$mode")"
	echo "TEST_TIMEOUT=$(q "${TEST_TIMEOUT:-}")"
	echo "TESTS_RUN=$(q "${TESTS_RUN:-}")"
	echo "BENCH_ARGS=$(q "${BENCH_ARGS:-}")"
	echo "PROGRAM=$(q "$(basename "$1")")"
} > "$root/etc/kvmhold-nested.conf"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
