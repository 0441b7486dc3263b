#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Packs the nested lane's initramfs (an uncompressed newc cpio: the guest
# kernel need not decompress it under emulation): the static busybox, the
# guest's /init (nested/init.sh), the test runner tests/run.sh, Debian's
# KVM modules from nested/kernel.sh (lib/modules/), the patched kvm.ko and
# kvm-amd.ko with kick_test from `make kernel-modules` (KICKDIR, into
# lib/modules/kick/ and bin/), and the static programs to run.  Fails if
# the patched modules were built for another kernel than KERNELDIR's.
# kvmtool (the kvmtool lane: no patched modules, KICKDIR is -): lkvm into
# bin/, the second-level guest's kernel (KERNELDIR's vmlinuz again) and
# initramfs (integrations/kvmtool/guest/) into l2/, and
# nested/kvmtool-runs.sh, which runs lkvm.
#
# usage: nested/initramfs.sh OUT KERNELDIR KICKDIR check PROGRAM...
#        nested/initramfs.sh OUT KERNELDIR KICKDIR bench PROGRAM
#        nested/initramfs.sh OUT KERNELDIR - kvmtool LKVM L2INITRD
# environment (written into the guest's /etc/kvmhold-nested.conf):
#   TEST_TIMEOUT   seconds per test program inside the guest
#   TESTS_RUN      test names to run (default: every PROGRAM)
#   NESTED_KICK    the suite runs, by KVMHOLD_TEST_KICK: "signal kernel"
#                  (default), "signal" or "kernel"
#   BENCH_ARGS     arguments of the benchmark
#   KVMTOOL_*      the kvmtool runs' settings (see nested/kvmtool-runs.sh)

set -eu

[ $# -ge 5 ] || { echo "usage: $0 OUT KERNELDIR KICKDIR check|bench PROGRAM..." >&2; exit 2; }
out=$1 kdir=$2 kick=$3 mode=$4
shift 4
kicks=${NESTED_KICK-signal kernel}
for k in $kicks; do
	case $k in
	signal|kernel) ;;
	*) echo "$0: NESTED_KICK takes signal and kernel, not '$k'" >&2; exit 2 ;;
	esac
done
# "linux-image-<abi>-amd64 <version> ..." in both.
read -r kimage kver _ < "$kdir/version"
if [ "$kick" != - ]; then
	read -r mimage mver _ < "$kick/version"
	if [ "$kimage $kver" != "$mimage $mver" ]; then
		echo "$0: the patched modules in $kick are for $mimage $mver, the guest kernel is $kimage $kver (make kernel-modules again)" >&2
		exit 1
	fi
fi
here=$(cd "$(dirname "$0")" && pwd)
busybox=/bin/busybox

ldd "$busybox" >/dev/null 2>&1 && { echo "$busybox is not static (apt-get install busybox-static)" >&2; exit 1; }

root=$(mktemp -d "${TMPDIR:-/tmp}/kvmhold-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" \
	"$root/etc" "$root/lib/modules/kick" "$root/tests"
cp "$busybox" "$root/bin/busybox"
cp "$here/init.sh" "$root/init"
cp "$here/../tests/run.sh" "$root/bin/run.sh"
cp "$here/../tests/prove.sh" "$root/bin/prove.sh"
chmod 755 "$root/init" "$root/bin/run.sh" "$root/bin/prove.sh"
for m in irqbypass ccp kvm kvm-amd; do
	cp "$kdir/modules/$m.ko" "$root/lib/modules/"
done
if [ "$kick" != - ]; then
	for m in kvm kvm-amd; do
		strip --strip-debug -o "$root/lib/modules/kick/$m.ko" "$kick/$m.ko"
	done
	strip -o "$root/bin/kick_test" "$kick/kick_test"
fi

# Programs lose their debug information: smaller, and faster to load.
case $mode in
check) dest=$root/tests ;;
bench) dest=$root/bin ;;
kvmtool)
	[ $# -eq 2 ] || { echo "$0: kvmtool takes LKVM and L2INITRD" >&2; exit 2; }
	dest=$root/bin
	mkdir -p "$root/l2"
	cp "$kdir/vmlinuz" "$root/l2/vmlinuz"
	cp "$2" "$root/l2/initrd.cpio"
	cp "$here/kvmtool-runs.sh" "$root/bin/kvmtool-runs.sh"
	chmod 755 "$root/bin/kvmtool-runs.sh"
	ldd "$1" >/dev/null 2>&1 && { echo "$1 is not statically linked" >&2; exit 1; }
	strip -o "$root/bin/lkvm" "$1"
	set -- ;;
*) echo "$0: mode is check, bench or kvmtool, not $mode" >&2; exit 2 ;;
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
	echo "NESTED_KICK=$(q "$kicks")"
	echo "BENCH_ARGS=$(q "${BENCH_ARGS:-}")"
	echo "PROGRAM=$(q "$(basename "${1:-}")")"
	for v in KVMTOOL_BOOTS KVMTOOL_BOOT_SECONDS KVMTOOL_BOOT_ARGS KVMTOOL_SECONDS \
		KVMTOOL_PROOF_SECONDS KVMTOOL_PAUSE_BENCH KVMTOOL_RUNS KVMTOOL_MEM \
		KVMTOOL_APPEND KVMTOOL_RUN_TIMEOUT KVMTOOL_L2_BASE KVMTOOL_LKVM_ARGS \
		KVMTOOL_KVM_PARAMS KVMTOOL_KVM_AMD_PARAMS; do
		eval "set=\${$v+y} val=\${$v:-}"
		# shellcheck disable=SC2154 # set and val are set by the eval
		[ -z "$set" ] || echo "export $v=$(q "$val")"
	done
} > "$root/etc/kvmhold-nested.conf"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
