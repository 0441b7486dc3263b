#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Installs Debian's Chromium for `make check-report` if it is missing (a
# clean machine has none).  Runs `apt-get update` only when something has to
# be installed, and needs root (or sudo) then.  Does nothing when CHROMIUM
# names another browser: that one is the caller's to provide.
#
# usage: tools/report-deps.sh

set -eu

[ -n "${CHROMIUM:-}" ] && exit 0
command -v chromium >/dev/null 2>&1 && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "check-report: installing chromium"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
