#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The kvmtool lane from a built lkvm and L2 initramfs: packs the nested
# guest's initramfs with the runs' settings (KVMTOOL_* in the environment),
# boots it (nested/boot.sh kvmtool), and runs again, in a fresh outer guest,
# the runs that failed only for the nested setup's own reasons.
#
# Why runs are repeated at all: in this setup (upstream kvm_amd under QEMU
# TCG, no next-RIP saving) the second-level Linux triple-faults now and
# then under memslot re-creation also with pristine kvmtool, its own pause
# and no kvmhold in the binary (docs/results.md, the kvmtool lane, "the
# control"), and the outer guest itself has hung.  nested/kvmtool-verdict.sh
# calls a failed run a setup failure only for those two causes and only
# when it shows none of the library's signs (a hole or mismatch, a checker,
# lkvm or other vCPU error, a failed commit, a hold timeout, an L2 kernel
# complaint, a stall unless lkvm's watch lines show the library live until
# the kill); any other failure ends the lane at once.  A run that
# fails for the setup's reasons on every one of KVMTOOL_ATTEMPTS (default
# 3) attempts fails the lane, and every repeat is printed.  KVMTOOL_BOOTS
# runs (counting failures) are never repeated.  A repeat gets
# NESTED_TIMEOUT seconds only as its runs need (each run's own limit and a
# minute, plus 300 for the outer guest), and none begins that could end
# after KVMTOOL_LANE_SECONDS (default 2400) from the lane's start: CI has
# a time limit of its own (90 minutes; the rest of .ci/run takes 32-37).
#
# usage: nested/kvmtool-lane.sh KERNELDIR LKVM L2-INITRD OUTDIR RUN...
# Each attempt logs to OUTDIR/log (the first) or OUTDIR/log-N.

set -u

[ $# -ge 5 ] || { echo "usage: $0 KERNELDIR LKVM L2-INITRD OUTDIR RUN..." >&2; exit 2; }
kdir=$1 lkvm=$2 l2=$3 out=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
attempts=${KVMTOOL_ATTEMPTS:-3}
[ "${KVMTOOL_BOOTS:-0}" -gt 0 ] && attempts=1
runs=$*
budget=${KVMTOOL_LANE_SECONDS:-2400}
start=$(date +%s)

n=1
while :; do
	log=$out/log
	[ $n -gt 1 ] && log=$out/log-$n
	KVMTOOL_RUNS=$runs "$here/initramfs.sh" "$out/kvmtool.cpio" "$kdir" - kvmtool \
		"$lkvm" "$l2" || exit 1
	# shellcheck disable=SC2086 # $runs is a list of names
	{
		"$here/boot.sh" kvmtool "$kdir" "$out/kvmtool.cpio" "$log" $runs
		echo $? > "$log.rc"
	} | tee "$log.verdict"
	rc=$(cat "$log.rc" 2>/dev/null || echo 1)
	case $rc in
	0)
		[ $n -gt 1 ] && echo "kvmtool-lane: passed on attempt $n of $attempts"
		exit 0 ;;
	3) ;;
	*) exit 1 ;;
	esac
	# A run asked for twice is reported as NAME-2 (kvmtool-runs.sh's name
	# for it): ask for NAME again.
	again=$(sed -n 's/^kvmtool: setup failures: //p' "$log.verdict" | tail -n 1 |
		tr ' ' '\n' | sed 's/-[0-9][0-9]*$//' | tr '\n' ' ' | sed 's/ *$//')
	[ -n "$again" ] || again=$runs
	if [ $n -ge "$attempts" ]; then
		echo "kvmtool-lane: setup failures on all $attempts attempts: $again"
		exit 1
	fi
	# The outer guest's limit: its boot, and each run's own limit (as
	# kvmtool-runs.sh sets it) plus a minute for the L2 guest's start.
	limit=300
	for r in $again; do
		case $r in
		reshape*|plain*) secs=${KVMTOOL_SECONDS:-60} ;;
		*) secs=${KVMTOOL_PROOF_SECONDS:-20} ;;
		esac
		limit=$((limit + ${KVMTOOL_RUN_TIMEOUT:-$((420 + 2 * secs))} + 60))
	done
	[ "$limit" -lt "${NESTED_TIMEOUT:-2400}" ] || limit=${NESTED_TIMEOUT:-2400}
	if [ $(($(date +%s) - start + limit)) -gt "$budget" ]; then
		echo "kvmtool-lane: setup failures, and no time left for another attempt" \
			"(KVMTOOL_LANE_SECONDS=$budget): $again"
		exit 1
	fi
	export NESTED_TIMEOUT="$limit"
	n=$((n + 1))
	echo
	echo "kvmtool-lane: attempt $n of $attempts: running again $again" \
		"(setup failures, see above; outer guest limit ${limit}s)"
	runs=$again
done
