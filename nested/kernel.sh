#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Fetches the guest kernel for the nested lane: Debian's current
# linux-image-amd64 (the version comes from the archive, through apt-cache
# and the meta package's dependency on linux-image-<abi>-amd64: see
# nested/debian-kernel.sh, shared with kernel/build.sh, so that the patched
# KVM modules are built for the same kernel), downloaded with
# `apt-get download` and unpacked with `dpkg-deb -x`, never installed.
# Keeps only vmlinuz and the KVM modules (decompressed), in a cache outside
# the source tree, so a second run finds them at once.  Prints the
# directory holding them:
#
#   DIR/vmlinuz  DIR/modules/{irqbypass,ccp,kvm,kvm-amd}.ko  DIR/version
#
# usage: nested/kernel.sh      environment: KVMHOLD_NESTED_CACHE
#        (default ${XDG_CACHE_HOME:-$HOME/.cache}/kvmhold-nested)

set -eu

cache=${KVMHOLD_NESTED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmhold-nested}
mods="irqbypass ccp kvm kvm-amd"
say() { echo "nested: $*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=nested/debian-kernel.sh
. "$here/debian-kernel.sh"
dk_resolve

dir=$cache/linux-$abi-$meta_ver
if [ -f "$dir/ready" ]; then
	echo "$dir"
	exit 0
fi

say "downloading $image $ver (from linux-image-amd64 $meta_ver)"
mkdir -p "$cache"
work=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! dk_download "$work" "$image=$ver"; then
	# Stale lists name a version the archive no longer has.
	dk_apt_update || exit 1
	dk_resolve
	dir=$cache/linux-$abi-$meta_ver
	dk_download "$work" "$image=$ver"
fi

say "unpacking $(basename "$work"/"$image"_*.deb)"
dpkg-deb -x "$work"/"$image"_*.deb "$work/root"
mkdir -p "$work/out/modules"
cp "$work/root/boot/vmlinuz-$abi" "$work/out/vmlinuz"
for m in $mods; do
	f=$(find "$work/root/lib/modules/$abi" -name "$m.ko" -o -name "$m.ko.xz" \
		-o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n 1)
	[ -n "$f" ] || { say "$m.ko not found in $image"; exit 1; }
	case $f in
	*.xz)  xz -dc "$f" ;;
	*.zst) zstd -dcq "$f" ;;
	*.gz)  gzip -dc "$f" ;;
	*)     cat "$f" ;;
	esac > "$work/out/modules/$m.ko"
done
echo "$image $ver (linux-image-amd64 $meta_ver)" > "$work/out/version"
touch "$work/out/ready"
rm -rf "$dir"
mv "$work/out" "$dir"
# Kernels the archive has since replaced.
for old in "$cache"/linux-*; do
	[ "$old" = "$dir" ] || rm -rf "$old"
done
echo "$dir"
