#!/bin/sh
# SPDX-License-Identifier: MIT
#
# nested/kvmtool-verdict.sh on made-up consoles: which failures of the
# kvmtool lane it calls setup failures (exit status 3: nested/kvmtool-lane.sh
# runs them again) and which end the lane (1).  A failure with any sign of
# the library's (a hole or mismatch, also one printed before the run was
# cut short, an L2 Oops, a KVM internal error, a hold timeout, a stall)
# must never be called the setup's, nor a triple fault before the run
# changed a memslot or synced the dirty log, or without lkvm's closing
# lines; a triple fault is no proof of damage.  No KVM needed.
#
# usage: tests/kvmtool_verdict.sh      prints PASS/FAIL per case

verdict=$(dirname "$0")/../nested/kvmtool-verdict.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME EXPECT OPTIONS LINE...: one run of the lane, with lkvm's lines.
run() {
	name=$1 expect=$2 opts=$3
	shift 3
	echo "kvmhold-nested: begin kvmtool/$name"
	echo "kvmhold-nested: expect kvmtool/$name $expect"
	echo "kvmhold-nested: lkvm kvmtool/$name -m 512 -c 2 $opts (workload 60s, limit 360s)"
	for l in "$@"; do
		case $l in
		kvmhold-nested:*) echo "$l" ;;
		*) echo "  l2| $l" ;;
		esac
	done
}

start='kvmhold-lkvm: start pause=hold break=none'
reshape='kvmhold-lkvm: reshape txns=300 holds=250 failed=0'
migrate='kvmhold-lkvm: migrate checkpoints=9 pages_compared=900 pages_verified=800 mismatches=0 rounds=40 errors=0'
library='kvmhold-lkvm: library holds=9 txn_rollbacks=0 hold_timeouts=0'
triple='kvmhold-lkvm: vcpu error #1: vcpu 1 exit reason 8'
opts='--kvmhold-reshape --kvmhold-migrate-check'

good() {
	run "$1" pass "$opts" "$start" 'kvmhold-guest: VERDICT PASS rounds=3 pages_verified=100 blk_ios=50' \
		"$reshape" "$migrate" 'kvmhold-lkvm: holes=0 vcpu_errors=0' "$library" 'kvmhold-lkvm: result=ok' \
		"kvmhold-nested: done kvmtool/$1 rc=0 secs=70.0"
}

# triple NAME [HOLES [EXTRA-LINE]]: the L2 guest triple-faulted.
triple() {
	run "$1" pass "$opts" "$start" "$triple" "${3:-kvmhold-lkvm: event t=1.0 txn split}" "$reshape" \
		"$migrate" "kvmhold-lkvm: holes=${2:-0} vcpu_errors=1" "$library" 'kvmhold-lkvm: result=FAIL' \
		"kvmhold-nested: done kvmtool/$1 rc=1 secs=50.0"
}

# check NAME WANT-STATUS WANT-SETUP-LINE EXPECTED-RUNS: the console on
# stdin.  Runs in a pipeline's subshell: results go to a file.
check() {
	cname=$1 want=$2 want_setup=$3
	shift 3
	cat > "$tmp/console"
	"$verdict" "$tmp/console" "$@" > "$tmp/out" 2>&1
	got=$?
	setup=$(sed -n 's/^kvmtool: setup failures: //p' "$tmp/out")
	if [ "$got" -eq "$want" ] && [ "$setup" = "$want_setup" ]; then
		echo "PASS  kvmtool_verdict/$cname" | tee -a "$tmp/results"
	else
		echo "FAIL  kvmtool_verdict/$cname: exit $got (want $want), setup failures \"$setup\" (want \"$want_setup\")" |
			tee -a "$tmp/results"
		sed 's/^/    | /' "$tmp/out"
	fi
}

good reshape | check all-pass 0 '' reshape
triple reshape | check triple-fault 3 reshape reshape
triple reshape 2 | check triple-fault-with-holes 1 '' reshape
triple reshape 0 '[   50.1] Oops: 0000 [#1] SMP' | check triple-fault-after-oops 1 '' reshape
triple reshape 0 'kvmhold-lkvm: vcpu error #2: vcpu 0 exit reason 17' |
	check triple-fault-and-internal-error 1 '' reshape
triple reshape 0 'kvmhold-lkvm: library holds=9 txn_rollbacks=0 hold_timeouts=4' |
	check triple-fault-after-hold-timeouts 1 '' reshape
triple reshape | sed 's/rc=1 secs/rc=139 secs/' | check triple-fault-and-lkvm-crash 1 '' reshape
{ triple reshape; good plain; } | check one-of-two 3 reshape reshape plain
# Dirty-log syncs without memslot changes: the plain control faults too.
run plain pass --kvmhold-migrate-check "$start" "$triple" "$migrate" 'kvmhold-lkvm: holes=0 vcpu_errors=1' \
	"$library" 'kvmhold-nested: done kvmtool/plain rc=1 secs=50.0' | check triple-fault-with-dirty-log 3 plain plain
# ... but only after the load the controls put on: a dirty-log sync, a
# re-created memslot.
run plain pass --kvmhold-migrate-check "$start" "$triple" "$(echo "$migrate" | sed 's/rounds=40/rounds=0/')" \
	'kvmhold-lkvm: holes=0 vcpu_errors=1' "$library" 'kvmhold-nested: done kvmtool/plain rc=1 secs=2.0' |
	check triple-fault-before-any-sync 1 '' plain
run reshape pass --kvmhold-reshape "$start" "$triple" 'kvmhold-lkvm: reshape txns=0 holds=0 failed=0' \
	'kvmhold-lkvm: holes=0 vcpu_errors=1' "$library" 'kvmhold-nested: done kvmtool/reshape rc=1 secs=2.0' |
	check triple-fault-before-any-txn 1 '' reshape
# ... and with the closing lines of lkvm there: the migration check's last
# checkpoint, after the fault, is what would show a lost page.
run plain pass --kvmhold-migrate-check "$start" "$triple" 'kvmhold-nested: done kvmtool/plain rc=1 secs=50.0' |
	check triple-fault-without-summary 1 '' plain
run reshape pass "$opts" "$start" "$triple" "$reshape" 'kvmhold-lkvm: holes=0 vcpu_errors=1' "$library" \
	'kvmhold-nested: done kvmtool/reshape rc=1 secs=50.0' | check triple-fault-without-migrate-line 1 '' reshape
run reshape pass --kvmhold-reshape "$start" "$triple" "$reshape" "$library" \
	'kvmhold-nested: done kvmtool/reshape rc=1 secs=50.0' | check triple-fault-without-holes-line 1 '' reshape
run reshape pass --kvmhold-reshape "$start" "$triple" "$reshape" 'kvmhold-lkvm: holes=0 vcpu_errors=1' \
	'kvmhold-nested: done kvmtool/reshape rc=1 secs=50.0' | check triple-fault-without-library-line 1 '' reshape
# Holds alone: no control covers them, so the fault is not repeated away.
run plain pass --kvmhold-pause-bench=20 "$start" "$triple" 'kvmhold-lkvm: holes=0 vcpu_errors=1' \
	'kvmhold-lkvm: pause n=20 errors=0 p50=1' \
	'kvmhold-nested: done kvmtool/plain rc=1 secs=50.0' | check triple-fault-holds-only 1 '' plain
# A stall can be a hold that never ends: never the setup's.
run plain pass "$opts" "$start" '[  82.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:' \
	'kvmhold-nested: TIMEOUT kvmtool/plain after 360s' 'kvmhold-nested: done kvmtool/plain rc=137 secs=360.0' |
	check stall 1 '' plain
run reshape pass "$opts" "$start" "$triple" 'kvmhold-nested: TIMEOUT kvmtool/reshape after 360s' \
	'kvmhold-nested: done kvmtool/reshape rc=137 secs=360.0' | check triple-fault-and-stall 1 '' reshape
# A stall with the watch: lines every 10 s to the kill at 360 s, made by
# watch_lines KEY=VALUE...: per 10 s, kick (kicking holds and holds), rel
# (releases), ck (checkpoints) and x1 (vCPU 1's KVM exits) grow by their
# step; hc, stop, park, to and gerr are the hold count, stopping, parked,
# hold timeouts and gate errors of each line; lines run from first to last
# (t=); from t=freeze on, kicks, releases, checkpoints and vCPU 1's exits
# stand still and a hold is stopping; stopend=1: stopping on the last
# line; x1=-: vCPU 1's KVM exits unknown (-1).  One-off bends at a time T:
# kflat, rflat, cflat=T: kicks, releases, checkpoints do not grow in the
# 20 s from T-10 to T+10; xflat=T: vCPU 1's exits do not grow from T-10
# to T; hcfrom=T: a hold in force from T on; parkat=T: a park with no hold
# on that line alone; nokx=T: no kvm_exits field on the lines up to T;
# onekx=T: only vCPU 0's on those lines.
watch_lines() {
	kick=2 rel=2 hc=0 stop=0 park=0 ck=2 x1=5 first=60 last=350 to=0 gerr=0 freeze=9999 stopend=0
	kflat=0 rflat=0 cflat=0 xflat=0 hcfrom=9999 parkat=0 nokx=0 onekx=0
	for a in "$@"; do eval "$a"; done
	ik=0 ir=0 ic=0 ix=0 t=10
	while [ "$t" -le "$last" ]; do
		if [ "$t" -lt "$freeze" ]; then
			[ "$t" = "$kflat" ] || [ "$t" = $((kflat + 10)) ] || ik=$((ik + kick))
			[ "$t" = "$rflat" ] || [ "$t" = $((rflat + 10)) ] || ir=$((ir + rel))
			[ "$t" = "$cflat" ] || [ "$t" = $((cflat + 10)) ] || ic=$((ic + ck))
			[ "$t" = "$xflat" ] || [ "$x1" = - ] || ix=$((ix + x1))
		fi
		st=$stop h=$hc p=$park kx=$((2000 + t * 9)),$((1000 + ix))
		[ "$t" -ge "$freeze" ] && st=1
		[ "$stopend" = 1 ] && [ "$t" -eq "$last" ] && st=1
		[ "$t" -ge "$hcfrom" ] && h=1
		[ "$t" = "$parkat" ] && p=1
		[ "$x1" = - ] && kx=$((2000 + t * 9)),-1
		[ "$t" -le "$onekx" ] && kx=$((2000 + t * 9))
		if [ "$t" -ge "$first" ]; then
			line="kvmhold-lkvm: watch t=$t holds=$((10 + ik)) kicking_holds=$((10 + ik))"
			line="$line releases=$((10 + ir)) hold_count=$h stopping=$st parked_now=$p inside_now=2"
			line="$line hold_timeouts=$to txn_commits=0 dirty_syncs=$((t * 5)) checkpoints=$((2 + ic))"
			line="$line gate_errors=$gerr exits=$((100 + t)),90+"
			[ "$t" -le "$nokx" ] || line="$line kvm_exits=$kx"
			echo "$line"
		fi
		t=$((t + 10))
	done
}
# stall NAME WATCH-LINES [LINE...]: a run killed at its 360 s limit.
stall() {
	name=$1 lines=$2
	shift 2
	run "$name" pass "$opts" "$start" "$@"
	printf '%s\n' "$lines" | sed 's/^/  l2| /'
	echo "kvmhold-nested: TIMEOUT kvmtool/$name after 360s"
	echo "kvmhold-nested: l2-rip kvmtool/$name 0xffffffff81c01a2b native_queued_spin_lock_slowpath+0x4b"
	echo "kvmhold-nested: done kvmtool/$name rc=137 secs=360.0"
}
# The guest going nowhere while holds come and go and KVM runs both vCPUs:
# the setup's (the guest stuck on its own).
stall plain "$(watch_lines)" | check stall-library-live 3 plain plain
# ... but not: a hold that stays in force (also one under which later holds
# nest without stopping anything, with parked threads), holds or releases
# that stopped coming, a stop that never completes (begun in the last
# minute, or seen only at the end), a park no hold explains, checkpoints
# that stopped, a vCPU KVM no longer runs (or no KVM stats), a hold
# timeout, a gated ioctl that failed, a watch that fell silent before the
# kill or began too late, a guest that had finished.
stall plain "$(watch_lines hc=1)" | check stall-hold-in-force 1 '' plain
stall plain "$(watch_lines kick=0 hc=1 park=3)" | check stall-leaked-hold 1 '' plain
stall plain "$(watch_lines kick=0 rel=0)" | check stall-no-holds 1 '' plain
stall plain "$(watch_lines kick=0)" | check stall-no-kicking-holds 1 '' plain
# ... in any 20 s of the last minute, not only over all of it,
stall plain "$(watch_lines kflat=320)" | check stall-kicks-paused 1 '' plain
stall plain "$(watch_lines rflat=320)" | check stall-releases-paused 1 '' plain
stall plain "$(watch_lines cflat=320)" | check stall-checkpoints-paused 1 '' plain
# (the same 20 s long before the last minute are no matter)
stall plain "$(watch_lines kflat=200 rflat=200 cflat=200 xflat=200)" | check stall-early-pause 3 plain plain
stall plain "$(watch_lines rel=0)" | check stall-no-releases 1 '' plain
stall plain "$(watch_lines freeze=300)" | check stall-stuck-stop 1 '' plain
stall plain "$(watch_lines stopend=1)" | check stall-stopping-at-end 1 '' plain
stall plain "$(watch_lines park=1)" | check stall-parked-without-hold 1 '' plain
stall plain "$(watch_lines ck=0)" | check stall-no-checkpoints 1 '' plain
stall plain "$(watch_lines x1=0)" | check stall-vcpu-not-run 1 '' plain
stall plain "$(watch_lines xflat=330)" | check stall-vcpu-paused 1 '' plain
stall plain "$(watch_lines nokx=300)" | check stall-kvm-stats-partly 1 '' plain
stall plain "$(watch_lines onekx=300)" | check stall-kvm-stats-one-vcpu 1 '' plain
stall plain "$(watch_lines hcfrom=250)" | check stall-hold-leaked-before 1 '' plain
# A park seen once is a thread on its way out of one.
stall plain "$(watch_lines parkat=320)" | check stall-park-once 3 plain plain
stall plain "$(watch_lines x1=-)" | check stall-no-kvm-stats 1 '' plain
stall plain "$(watch_lines | sed 's/ kvm_exits=.*//')" | check stall-old-watch-lines 1 '' plain
stall plain "$(watch_lines to=1)" | check stall-hold-timeout 1 '' plain
stall plain "$(watch_lines gerr=1)" | check stall-gate-error 1 '' plain
stall plain "$(watch_lines last=300)" | check stall-watch-silent 1 '' plain
stall plain "$(watch_lines first=310)" | check stall-watch-short 1 '' plain
stall plain "$(watch_lines)" 'kvmhold-guest: VERDICT PASS rounds=3 pages_verified=100 blk_ios=50' |
	check stall-after-verdict 1 '' plain
stall plain "$(watch_lines)" 'kvmhold-lkvm: hole #1: MMIO read at gpa 0x100000, which is RAM' |
	check stall-after-hole 1 '' plain
stall plain "$(watch_lines)" '[ 120.5] watchdog: BUG: soft lockup - CPU#1 stuck for 22s!' |
	check stall-with-kernel-complaint 1 '' plain
stall plain "$(watch_lines)" "$triple" | check stall-after-triple-fault 1 '' plain
# Only a run that must pass: a proof that hangs proves nothing, and is not
# repeated away either.
{
	run break-dirty-mark mismatch "--kvmhold-migrate-check --kvmhold-break=dirty-mark" \
		'kvmhold-lkvm: start pause=hold break=dirty-mark'
	watch_lines | sed 's/^/  l2| /'
	echo 'kvmhold-nested: TIMEOUT kvmtool/break-dirty-mark after 360s'
	echo 'kvmhold-nested: done kvmtool/break-dirty-mark rc=137 secs=360.0'
} | check stall-in-proof 1 '' break-dirty-mark
# A triple fault with every closing line, and then lkvm never exits: no
# watch shows why, so the library's.
triple reshape | sed 's/^kvmhold-nested: done kvmtool\/reshape .*/kvmhold-nested: TIMEOUT kvmtool\/reshape after 360s\
kvmhold-nested: done kvmtool\/reshape rc=137 secs=360.0/' | check triple-fault-then-hang 1 '' reshape
# Cut short before lkvm's summary: what it printed as it went still counts.
run reshape pass "$opts" "$start" 'kvmhold-lkvm: hole #1: MMIO read at gpa 0x100000, which is RAM' "$triple" |
	check hole-then-outer-guest-gone 1 '' reshape
run reshape pass "$opts" "$start" 'kvmhold-lkvm: checkpoint n=2 mismatches=3 verified=10 stop_us=500' |
	check mismatch-then-outer-guest-gone 1 '' reshape
run reshape pass "$opts" "$start" | check outer-guest-gone 3 reshape reshape
good reshape | check never-began 3 plain reshape plain
run break-txn-hold damage "--kvmhold-reshape --kvmhold-break=txn-hold" \
	'kvmhold-lkvm: start pause=hold break=txn-hold' 'kvmhold-lkvm: vcpu error #1: vcpu 0 exit reason 17' \
	"$reshape" 'kvmhold-lkvm: holes=0 vcpu_errors=1' "$library" 'kvmhold-lkvm: result=FAIL' \
	'kvmhold-nested: done kvmtool/break-txn-hold rc=1 secs=5.0' | check proof-caught 0 '' break-txn-hold
# A triple fault is no proof that the break did it.
run break-txn-hold damage "--kvmhold-reshape --kvmhold-break=txn-hold" \
	'kvmhold-lkvm: start pause=hold break=txn-hold' "$triple" "$reshape" 'kvmhold-lkvm: holes=0 vcpu_errors=1' \
	"$library" 'kvmhold-lkvm: result=FAIL' 'kvmhold-nested: done kvmtool/break-txn-hold rc=1 secs=5.0' |
	check proof-by-triple-fault 3 break-txn-hold break-txn-hold
# ... unless it came at once, within 10 s of lkvm's start, after an
# unheld commit: the setup's own faults come 40 s in and later.
early_proof() {
	run break-txn-hold damage "--kvmhold-reshape --kvmhold-break=txn-hold" \
		'kvmhold-lkvm: start pause=hold break=txn-hold' "$triple" \
		"kvmhold-lkvm: last 2 of 2 events, now t=$1s:" "kvmhold-lkvm: reshape txns=$2 holds=0 failed=0" \
		'kvmhold-lkvm: holes=0 vcpu_errors=1' "$library" 'kvmhold-lkvm: result=FAIL' \
		'kvmhold-nested: done kvmtool/break-txn-hold rc=1 secs=3.0'
}
early_proof 0.315602 1 | check proof-by-early-triple-fault 0 '' break-txn-hold
early_proof 10.5 1 | check proof-by-later-triple-fault 3 break-txn-hold break-txn-hold
early_proof 0.3 0 | check proof-early-triple-fault-no-commit 1 '' break-txn-hold
# The dirty-mark proof cut short by a triple fault before any mismatch
# proved nothing either way: it runs again.
run break-dirty-mark mismatch "--kvmhold-migrate-check --kvmhold-break=dirty-mark" \
	'kvmhold-lkvm: start pause=hold break=dirty-mark' "$triple" "$migrate" \
	'kvmhold-lkvm: holes=0 vcpu_errors=1' "$library" 'kvmhold-lkvm: result=FAIL' \
	'kvmhold-nested: done kvmtool/break-dirty-mark rc=1 secs=30.0' |
	check mark-proof-by-triple-fault 3 break-dirty-mark break-dirty-mark

passed=$(grep -c '^PASS' "$tmp/results")
failed=$(grep -c '^FAIL' "$tmp/results")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
