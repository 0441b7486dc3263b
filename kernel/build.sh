#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Builds KVM modules with kvm_kick (KVM_KICK_ALL_RUNNING_VCPUS and
# KVM_RESUME_ALL_KICKED_VCPUS) for the kernel of Debian's current
# linux-image-amd64 (the ABI and version come from the apt lists, through
# the meta package's dependency on linux-image-<abi>-amd64):
#
#   1. apt-get download linux-source-6.1 and linux-headers-<abi>-amd64 (with
#      linux-headers-<abi>-common and linux-kbuild-6.1) of that version, into
#      a cache outside the source tree;
#   2. copy arch/x86/kvm and virt/kvm out of the source tarball into a fresh
#      build directory and apply the series kernel/patches/*.patch to it
#      (patch -p1, no fuzz: a hunk that does not apply fails the build);
#   3. point the KVM Makefile's $(srctree) references and the two
#      TRACE_INCLUDE_PATH definitions at the copied tree;
#   4. make -C <headers> M=<build>/arch/x86/kvm modules, against the
#      installed /usr/src/linux-headers-<abi>-amd64 if present, otherwise
#      against the header packages unpacked with dpkg-deb -x in the cache.
#
# Output: OUTDIR/kvm.ko, kvm-amd.ko, kvm-intel.ko and OUTDIR/version.  A
# second run with the same kernel and the same kernel/ files does nothing.
#
# usage: kernel/build.sh OUTDIR
# environment:
#   KVMHOLD_KERNEL_CACHE  cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/kvmhold-kernel)
#   KVMHOLD_KERNEL_HEADERS  auto (default) | system | unpack
#   JOBS                  parallel make jobs (default 2)

set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
cache=${KVMHOLD_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmhold-kernel}
headers_mode=${KVMHOLD_KERNEL_HEADERS:-auto}
jobs=${JOBS:-2}
say() { echo "kernel: $*" >&2; }
die() { say "$*"; exit 1; }

# ---- 1. which kernel: linux-image-amd64's candidate and its image package --
# (shared with the nested lane's nested/kernel.sh, which boots that kernel)
# shellcheck source=nested/debian-kernel.sh
. "$here/../nested/debian-kernel.sh"
dk_resolve || exit 1
abi_common=${abi%-amd64}-common
case $ver in
6.1.*) ;;
*) die "linux-image-amd64 is $image $ver: this build is for Linux 6.1" ;;
esac
say "target: $image $ver (linux-image-amd64 $meta_ver)"

# Nothing to do if OUTDIR holds modules built for this kernel from these
# very files (the nested lane calls this on every run).
stamp="$image $ver $(cd "$here" && cat patches/*.patch build.sh \
	../nested/debian-kernel.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ] &&
   [ -f "$out/kvm.ko" ] && [ -f "$out/kvm-amd.ko" ] && [ -f "$out/kvm-intel.ko" ]; then
	say "modules in $out are up to date ($image $ver)"
	exit 0
fi
rm -f "$out/stamp"

vcache=$cache/$ver
debs=$vcache/debs
mkdir -p "$debs"
pkgs="linux-source-6.1 linux-headers-$abi linux-headers-$abi_common linux-kbuild-6.1"
fetch() {
	for p in $pkgs; do
		ls "$debs/${p}_"*.deb >/dev/null 2>&1 && continue
		say "apt-get download $p=$ver"
		dk_download "$debs" "$p=$ver" || return 1
	done
}
if ! fetch; then
	# Stale lists name a version the archive no longer has.
	dk_apt_update || exit 1
	fetch || die "download failed"
fi

# ---- the KVM sources, out of the tarball (once per version) ------------------
src=$vcache/src
if [ ! -f "$src/ready" ]; then
	say "unpacking arch/x86/kvm and virt/kvm from linux-source-6.1 $ver"
	rm -rf "$src" "$vcache/src.tmp"
	mkdir -p "$vcache/src.tmp"
	dpkg-deb --fsys-tarfile "$debs"/linux-source-6.1_*.deb |
		tar -xOf - ./usr/src/linux-source-6.1.tar.xz |
		tar -xJf - -C "$vcache/src.tmp" --strip-components=1 \
			linux-source-6.1/arch/x86/kvm linux-source-6.1/virt/kvm
	touch "$vcache/src.tmp/ready"
	mv "$vcache/src.tmp" "$src"
fi

# ---- the headers: installed, or unpacked into the cache ---------------------
hdr=
if [ "$headers_mode" != unpack ] && [ -f "/usr/src/linux-headers-$abi/Makefile" ]; then
	hdr=/usr/src/linux-headers-$abi
	# An installed package of another version would build modules that
	# do not match the image.
	iver=$(dpkg-query -W -f '${Version}' "linux-headers-$abi" 2>/dev/null || true)
	[ "$iver" = "$ver" ] || hdr=
fi
if [ -z "$hdr" ]; then
	[ "$headers_mode" = system ] && die "linux-headers-$abi $ver is not installed (apt-get install linux-headers-$abi)"
	root=$vcache/headers
	if [ ! -f "$root/ready" ]; then
		say "unpacking linux-headers-$abi, linux-headers-$abi_common, linux-kbuild-6.1 (dpkg-deb -x)"
		rm -rf "$root" "$root.tmp"
		mkdir -p "$root.tmp"
		for p in "linux-headers-$abi" "linux-headers-$abi_common" linux-kbuild-6.1; do
			dpkg-deb -x "$debs/${p}_"*.deb "$root.tmp"
		done
		# The flavour's Makefile includes the common one by absolute
		# path; the kbuild symlinks (scripts, tools) are relative.
		mk=$root.tmp/usr/src/linux-headers-$abi/Makefile
		grep -q "^include /usr/src/linux-headers-$abi_common/Makefile\$" "$mk" ||
			die "unexpected $mk: $(cat "$mk")"
		sed -i "s|^include /usr/src/|include $root/usr/src/|" "$mk"
		touch "$root.tmp/ready"
		mv "$root.tmp" "$root"
	fi
	hdr=$root/usr/src/linux-headers-$abi
fi
say "headers: $hdr"

# ---- 2, 3. a fresh build tree ------------------------------------------------
build=$out/build
rm -rf "$build"
mkdir -p "$build/arch/x86" "$build/virt"
cp -R "$src/arch/x86/kvm" "$build/arch/x86/kvm"
cp -R "$src/virt/kvm" "$build/virt/kvm"
# The change itself, applied as to a full kernel tree.  No fuzz: if a
# newer Debian release changes a hunk's context lines, the build stops
# here instead of placing the hunk by a partial match (a hunk that only
# moved, at an offset, still applies).
command -v patch >/dev/null 2>&1 || die "needs patch (apt-get install patch)"
set -- "$here"/patches/*.patch
[ -f "$1" ] || die "no patches in $here/patches"
for p; do
	say "applying $(basename "$p")"
	patch -p1 --forward --batch --fuzz=0 --no-backup-if-mismatch -d "$build" <"$p" >&2 ||
		die "$(basename "$p") does not apply to linux-source-6.1 $ver (see the .rej files in $build)"
done
k=$build/arch/x86/kvm

# must_sed FILE FROM TO: replace a fixed line, failing if it is not there.
must_sed() {
	grep -qxF "$2" "$1" || die "$(basename "$1"): line '$2' not found"
	awk -v from="$2" -v to="$3" '$0 == from { print to; next } { print }' "$1" > "$1.new"
	mv "$1.new" "$1"
}
must_sed "$k/Makefile" 'ccflags-y += -I $(srctree)/arch/x86/kvm' \
	'ccflags-y += -I $(src)'
must_sed "$k/Makefile" 'include $(srctree)/virt/kvm/Makefile.kvm' \
	'include $(src)/../../../virt/kvm/Makefile.kvm'
grep -q 'srctree' "$k/Makefile" && die "Makefile: a \$(srctree) reference is left"
# define_trace.h includes TRACE_INCLUDE_PATH/<file>.h relative to the
# kernel's include/trace: name the copies instead.
must_sed "$k/trace.h" '#define TRACE_INCLUDE_PATH ../../arch/x86/kvm' \
	"#define TRACE_INCLUDE_PATH $k"
must_sed "$k/mmu/mmutrace.h" '#define TRACE_INCLUDE_PATH mmu' \
	"#define TRACE_INCLUDE_PATH $k/mmu"

# ---- 4. build ----------------------------------------------------------------
say "make -C $hdr M=$k -j$jobs modules"
# Called from kvmhold's Makefile, MAKEFLAGS carries its command line: an
# O=dir there would become the kernel build's output directory.
env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u O \
	make -C "$hdr" M="$k" -j"$jobs" modules >&2
for m in kvm kvm-amd kvm-intel; do
	[ -f "$k/$m.ko" ] || die "$m.ko was not built"
	cp "$k/$m.ko" "$out/$m.ko"
done
echo "$image $ver kvm_kick" > "$out/version"
echo "$stamp" > "$out/stamp"
say "modules in $out: kvm.ko kvm-amd.ko kvm-intel.ko"
