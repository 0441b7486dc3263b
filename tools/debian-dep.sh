#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Installs a Debian package a check needs if its command is missing (a
# clean machine has neither chromium nor spin).  Runs `apt-get update` only
# when something has to be installed, and needs root (or sudo) then.  Does
# nothing when the caller named another command than the package's own
# (CHROMIUM=..., SPIN=...): that one is the caller's to provide.  A package
# with no command of its own (python3-matplotlib) is named alone: the caller
# checks for it first and calls this only when it is missing.
#
# usage: tools/debian-dep.sh TARGET PACKAGE [COMMAND]
#   e.g. tools/debian-dep.sh check-model spin "$SPIN"

set -eu

target=$1 package=$2 command=${3:-$2}

command -v "$command" >/dev/null 2>&1 && exit 0
[ "$command" = "$package" ] || exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "$target: installing $package"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package"
