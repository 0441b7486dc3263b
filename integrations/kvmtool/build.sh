#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build kvmtool's lkvm with the kvmhold patch series.
#
#   build.sh OUTDIR              patched lkvm, every patch (the last one is
#                                test-only), linked with libkvmhold-test.a
#   build.sh --upstream OUTDIR   the patches meant for kvmtool (not the
#                                test-only one), linked with libkvmhold.a
#   build.sh --unpatched OUTDIR  pristine lkvm, for comparison
#   build.sh --control OUTDIR    pristine lkvm with control/*.patch only,
#                                no kvmhold (a diagnostic): kvmtool's own
#                                pause around memslot re-creation, or with
#                                --control=plain around dirty-log syncs
#
# Unpacks the pinned kvmtool tarball into OUTDIR/kvmtool-b48735e (replacing
# an old copy), applies patches/*.patch in order, builds the library with
# the repository's Makefile (KVMHOLD_O: its O= build folder, default build),
# builds lkvm-static and leaves it as OUTDIR/lkvm.  The test-only patch
# sets the library's test switches (--kvmhold-break), which exist only in
# the library's test build; the shipped library has none.  kvmtool's optional
# libraries (bfd, zlib, libaio, SDL, VNC, GTK) are switched off, so the
# result does not depend on what the build machine happens to have.
set -eu

unpatched=0 upstream=0 control=0
case ${1:-} in
--unpatched) unpatched=1; shift ;;
--upstream) upstream=1; shift ;;
--control) unpatched=1 control=1; shift ;;
esac
if [ $# -ne 1 ]; then
	echo "usage: $0 [--unpatched|--upstream|--control] OUTDIR" >&2
	exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tarball=$here/kvmtool-b48735e.tar.gz
name=kvmtool-b48735e
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}

mkdir -p "$1"
out=$(cd "$1" && pwd)
src=$out/$name

rm -rf "$src"
tar -xzf "$tarball" -C "$out"

# Never let git look for a repository above the unpacked tree (git apply in
# a subfolder of another repository would skip the paths outside it).
apply_patch() {
	if command -v patch >/dev/null 2>&1; then
		patch -p1 -s -d "$src" <"$1"
	else
		(cd "$src" && GIT_CEILING_DIRECTORIES=$out git apply "$1")
	fi
}

make_vars="WERROR=0 CFLAGS_STATOPT= LIBS_STATOPT= OBJS_STATOPT="

if [ $unpatched -eq 0 ]; then
	for p in "$here"/patches/*.patch; do
		[ -e "$p" ] || continue
		case $p in *TEST-ONLY*) [ $upstream -eq 0 ] || continue ;; esac
		echo "build.sh: applying $(basename "$p")"
		apply_patch "$p"
	done

	o=${KVMHOLD_O:-build}
	a=libkvmhold-test.a
	[ $upstream -eq 0 ] || a=libkvmhold.a
	case $o in
	/*) lib=$o/$a ;;
	*) lib=$repo/$o/$a ;;
	esac
	make -C "$repo" O="$o" "$o/$a"
	# shellcheck disable=SC2086
	make -C "$src" -j"$jobs" $make_vars \
		KVMHOLD_CFLAGS="-I$repo/include" KVMHOLD_LIBS="$lib" lkvm-static
else
	if [ $control -eq 1 ]; then
		for p in "$here"/control/*.patch; do
			echo "build.sh: applying $(basename "$p")"
			apply_patch "$p"
		done
	fi
	# shellcheck disable=SC2086
	make -C "$src" -j"$jobs" $make_vars lkvm-static
fi

cp "$src/lkvm-static" "$out/lkvm"
echo "build.sh: built $out/lkvm"

if [ $unpatched -eq 0 ]; then
	echo "build.sh: size of the patch series applied:"
	applied=$(for p in "$here"/patches/*.patch; do
		case $p in *TEST-ONLY*) [ $upstream -eq 0 ] || continue ;; esac
		echo "$p"
	done)
	# shellcheck disable=SC2086 # a list of paths without spaces
	if command -v diffstat >/dev/null 2>&1; then
		cat $applied | diffstat -s
	else
		cat $applied | (cd "$src" && GIT_CEILING_DIRECTORIES=$out git apply --stat) |
			tail -n 1
	fi
fi
