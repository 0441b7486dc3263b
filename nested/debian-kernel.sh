# SPDX-License-Identifier: MIT
# shellcheck shell=sh
#
# Sourced (not run) by nested/kernel.sh and kernel/build.sh: which kernel is
# Debian's current linux-image-amd64, from the apt lists, and downloading
# its packages with `apt-get download` (never installing them).  The caller
# defines say() for messages (on stderr) and runs under `set -eu`.
#
#   dk_resolve        sets meta_ver (linux-image-amd64's candidate), image
#                     (the linux-image-<abi>-amd64 it depends on), ver (the
#                     version it depends on) and abi (e.g. 6.1.0-56-amd64);
#                     runs `apt-get update` once if the lists lack them
#   dk_apt_update     `apt-get update`, at most once (fails the second time)
#   dk_download DIR PKG[=VER]...   apt-get download into DIR

dk_sudo='' dk_nosandbox='' dk_updated=''
# As root, apt-get download would try to drop to _apt, who may not write
# into the caller's cache.
if [ "$(id -u)" -eq 0 ]; then
	dk_nosandbox="-o APT::Sandbox::User=root"
else
	dk_sudo=sudo
fi

dk_apt_update() {
	[ -z "$dk_updated" ] || return 1
	say "apt-get update"
	$dk_sudo apt-get update -qq >&2
	dk_updated=1
}

dk_lookup() {
	meta_ver=$(apt-cache policy linux-image-amd64 2>/dev/null |
		awk '$1 == "Candidate:" { print $2 }')
	[ -n "$meta_ver" ] && [ "$meta_ver" != "(none)" ] || return 1
	dk_dep=$(apt-cache show "linux-image-amd64=$meta_ver" 2>/dev/null |
		sed -n 's/^Depends: *//p' | head -n 1 | tr ',' '\n' |
		grep -E '^ *linux-image-[0-9][^ ]*-amd64 ' | head -n 1)
	image=$(printf '%s\n' "$dk_dep" | sed -n 's/^ *\(linux-image-[^ ]*\) .*/\1/p')
	ver=$(printf '%s\n' "$dk_dep" | sed -n 's/.*(= *\([^)]*\)).*/\1/p')
	[ -n "$image" ] && [ -n "$ver" ] || return 1
	# shellcheck disable=SC2034 # used by the scripts that source this one
	abi=${image#linux-image-}
}

dk_resolve() {
	dk_lookup && return 0
	dk_apt_update || true
	dk_lookup || { say "linux-image-amd64 not found in the apt lists"; return 1; }
}

dk_download() {
	dk_dir=$1
	shift
	# shellcheck disable=SC2086 # $dk_nosandbox is empty or an option and its value
	(cd "$dk_dir" && apt-get download -q $dk_nosandbox "$@" >&2)
}
