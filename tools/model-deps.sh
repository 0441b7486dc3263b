#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Installs Debian's spin for `make check-model` if it is missing.  Runs
# `apt-get update` only when something has to be installed, and needs root
# (or sudo) then.  Does nothing when SPIN names another binary: that one is
# the caller's to provide.
#
# usage: tools/model-deps.sh

set -e

[ -n "${SPIN:-}" ] && [ "${SPIN}" != spin ] && exit 0
command -v spin >/dev/null 2>&1 && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "check-model: installing spin"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends spin
