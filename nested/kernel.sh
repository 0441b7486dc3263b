#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Fetches the guest kernel for the nested lane: Debian's current
# linux-image-amd64 (the version comes from the archive, through apt-cache
# and the meta package's dependency on linux-image-<abi>-amd64), downloaded
# with `apt-get download` and unpacked with `dpkg-deb -x`, never installed.
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

sudo='' nosandbox=''
# As root, apt-get download would try to drop to _apt, who cannot write here.
[ "$(id -u)" -eq 0 ] && nosandbox="-o APT::Sandbox::User=root" || sudo=sudo
updated=
apt_update() {
	[ -z "$updated" ] || return 1
	say "apt-get update"
	$sudo apt-get update -qq >&2
	updated=1
}

# The meta package's candidate version and the image package it depends on.
resolve() {
	meta_ver=$(apt-cache policy linux-image-amd64 2>/dev/null |
		awk '$1 == "Candidate:" { print $2 }')
	[ -n "$meta_ver" ] && [ "$meta_ver" != "(none)" ] || return 1
	image=$(apt-cache show "linux-image-amd64=$meta_ver" 2>/dev/null |
		sed -n 's/^Depends: *//p' | head -n 1 | tr ',' '\n' |
		sed -n 's/^ *\(linux-image-[0-9][^ ]*-amd64\) .*/\1/p' | head -n 1)
	[ -n "$image" ] || return 1
	abi=${image#linux-image-}
	abi=${abi%-amd64}-amd64
}
if ! resolve; then
	apt_update
	resolve || { say "linux-image-amd64 not found in the apt lists"; exit 1; }
fi

dir=$cache/linux-$abi-$meta_ver
if [ -f "$dir/ready" ]; then
	echo "$dir"
	exit 0
fi

say "downloading $image ($meta_ver, from linux-image-amd64 $meta_ver)"
mkdir -p "$cache"
work=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
fetch() {
	# shellcheck disable=SC2086 # $nosandbox is empty or an option and its value
	(cd "$work" && apt-get download -q $nosandbox "linux-image-amd64=$meta_ver" >&2 &&
		ls linux-image-amd64_*.deb >/dev/null)
}
if ! fetch; then
	# Stale lists name a version the archive no longer has.
	apt_update || exit 1
	resolve
	dir=$cache/linux-$abi-$meta_ver
	fetch
fi
# Check the downloaded meta package names the same image package.
dep=$(dpkg-deb -f "$work"/linux-image-amd64_*.deb Depends)
case $dep in
*"$image "*) ;;
*) say "linux-image-amd64 $meta_ver depends on '$dep', not $image"; exit 1 ;;
esac
img_ver=$(printf '%s\n' "$dep" | tr ',' '\n' |
	sed -n "s/^ *$image (= \(.*\)).*/\1/p" | head -n 1)
# shellcheck disable=SC2086
(cd "$work" && apt-get download -q $nosandbox "$image${img_ver:+=$img_ver}" >&2)

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
echo "$image $img_ver (linux-image-amd64 $meta_ver)" > "$work/out/version"
touch "$work/out/ready"
rm -rf "$dir"
mv "$work/out" "$dir"
# Kernels the archive has since replaced.
for old in "$cache"/linux-*; do
	[ "$old" = "$dir" ] || rm -rf "$old"
done
echo "$dir"
