#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Fetches the guest kernel for the nested lane: Debian's current
# linux-image-amd64 (the version comes from the archive, through apt-cache
# and the meta package's dependency on linux-image-<abi>-amd64: see
# nested/debian-kernel.sh, shared with kernel/build.sh, so that the patched
# KVM modules are built for the same kernel), downloaded with
# `apt-get download` and unpacked with `dpkg-deb -x`, never installed.
# Keeps only vmlinuz, the KVM modules and the virtio modules the kvmtool
# lane's second-level guest needs (decompressed), in a cache outside the
# source tree, so a second run finds them at once.  Prints the directory
# holding them:
#
#   DIR/vmlinuz  DIR/modules/{irqbypass,ccp,kvm,kvm-amd}.ko  DIR/version
#   DIR/modules/{virtio_ring,virtio,...,virtio_blk}.ko and DIR/modules/l2.order
#   (those modules' names, one a line, in the order insmod takes them)
#
# A cache entry made before the virtio modules were kept lacks them: they
# are fetched (the same package again) and added, the rest left as it was.
#
# usage: nested/kernel.sh      environment: KVMHOLD_NESTED_CACHE
#        (default ${XDG_CACHE_HOME:-$HOME/.cache}/kvmhold-nested)

set -eu

cache=${KVMHOLD_NESTED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmhold-nested}
mods="irqbypass ccp kvm kvm-amd"
# Debian builds virtio as modules.  In dependency order (their .modinfo
# "depends="): virtio needs virtio_ring; virtio_pci all four before it;
# virtio_blk virtio and virtio_ring.
l2mods="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk"
say() { echo "nested: $*" >&2; }

# extract ROOT OUTDIR MODULE...: the modules from the unpacked package
# ROOT, decompressed, into OUTDIR/MODULE.ko (each written whole, then moved).
extract() {
	ex_root=$1 ex_out=$2
	shift 2
	for m in "$@"; do
		f=$(find "$ex_root/lib/modules/$abi" -name "$m.ko" -o -name "$m.ko.xz" \
			-o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n 1)
		[ -n "$f" ] || { say "$m.ko not found in $image"; return 1; }
		case $f in
		*.xz)  xz -dc "$f" ;;
		*.zst) zstd -dcq "$f" ;;
		*.gz)  gzip -dc "$f" ;;
		*)     cat "$f" ;;
		esac > "$ex_out/$m.ko.tmp"
		mv "$ex_out/$m.ko.tmp" "$ex_out/$m.ko"
	done
}
# download DIR: the kernel package, unpacked into DIR/root.
download() {
	if ! dk_download "$1" "$image=$ver"; then
		# Stale lists name a version the archive no longer has.
		dk_apt_update || return 1
		dk_resolve
		dir=$cache/linux-$abi-$meta_ver
		dk_download "$1" "$image=$ver"
	fi
	say "unpacking $(basename "$1"/"$image"_*.deb)"
	dpkg-deb -x "$1"/"$image"_*.deb "$1/root"
}

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=nested/debian-kernel.sh
. "$here/debian-kernel.sh"
dk_resolve

dir=$cache/linux-$abi-$meta_ver
l2order() { for m in $l2mods; do echo "$m"; done; }
if [ -f "$dir/ready" ]; then
	if [ "$(cat "$dir/modules/l2.order" 2>/dev/null)" != "$(l2order)" ]; then
		# An entry from before the kvmtool lane: add its modules.
		say "adding the virtio modules to $dir"
		work=$(mktemp -d "$cache/tmp.XXXXXX")
		trap 'rm -rf "$work"' EXIT
		# The same package as the entry's (a newer one would not match
		# its vmlinuz): no apt-get update here.
		dk_download "$work" "$image=$ver" ||
			{ say "$image $ver no longer downloadable: remove $dir"; exit 1; }
		dpkg-deb -x "$work"/"$image"_*.deb "$work/root"
		# shellcheck disable=SC2086 # a list of module names
		extract "$work/root" "$dir/modules" $l2mods
		l2order > "$dir/modules/l2.order.tmp"
		mv "$dir/modules/l2.order.tmp" "$dir/modules/l2.order"
	fi
	echo "$dir"
	exit 0
fi

say "downloading $image $ver (from linux-image-amd64 $meta_ver)"
mkdir -p "$cache"
work=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
download "$work"
mkdir -p "$work/out/modules"
cp "$work/root/boot/vmlinuz-$abi" "$work/out/vmlinuz"
# shellcheck disable=SC2086 # lists of module names
extract "$work/root" "$work/out/modules" $mods $l2mods
l2order > "$work/out/modules/l2.order"
echo "$image $ver (linux-image-amd64 $meta_ver)" > "$work/out/version"
touch "$work/out/ready"
rm -rf "$dir"
mv "$work/out" "$dir"
# Kernels the archive has since replaced.
for old in "$cache"/linux-*; do
	[ "$old" = "$dir" ] || rm -rf "$old"
done
echo "$dir"
