#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Boots the nested lane's guest: Debian's kernel with upstream kvm_amd,
# under QEMU TCG (single-threaded: multi-threaded TCG made multi-vCPU runs
# fail intermittently) with an emulated EPYC (SVM, nested paging), and
# brings the results back through the serial console.  Prints the guest's
# own lines and the runner's output as they come, then the verdict.
#
# In check mode it ends with "N passed, N failed": the guest's PASS/FAIL
# lines (see nested/init.sh: kick_test-stock and kick_test, one result per
# run of kick_test; signal/NAME and kernel/NAME, the suite's tests with
# KVMHOLD_TEST_KICK=signal on the stock modules and =kernel on the patched
# ones), plus one failure for each of: /dev/kvm missing in the guest, the
# patched modules not loading, a guest kernel log with BUG, WARNING, Oops,
# soft lockup, Call Trace (or a panic, a hard lockup, an RCU stall; the
# taint of the unsigned patched modules is expected), the guest not
# finishing within the time limit (QEMU is killed), and each expected
# RESULT that never reported.  Exit status 0 only if none failed.
#
# In kvmtool mode (the kvmtool lane: lkvm and a second-level guest inside
# the guest, nested/kvmtool-runs.sh) the same guest-level failures count,
# then nested/kvmtool-verdict.sh judges each run (RUN: the runs that must
# have begun) and prints their figures.  There, an outer CPU reported stuck
# (soft lockup) for NESTED_STUCK_SECONDS (default 120) stops QEMU at once:
# the outer guest is gone, the setup's failure (the L1 kernel's own KVM was
# seen spinning in __apic_accept_irq for over 1000 s in a CI run), and the time
# left to its limit is better spent on a repeat.
#
# usage: nested/boot.sh check KERNELDIR INITRD LOGDIR [RESULT...]
#        nested/boot.sh bench KERNELDIR INITRD LOGDIR
#        nested/boot.sh kvmtool KERNELDIR INITRD LOGDIR [RUN...]
# environment: NESTED_TIMEOUT  seconds for the whole boot (default 2400)
#              NESTED_SMP, NESTED_MEM   guest CPUs (2) and memory (2G)
#              NESTED_APPEND   more guest kernel parameters
#              NESTED_TCG      QEMU's TCG threading: single (default) or multi
# LOGDIR gets console.log (the whole serial console) and qemu.err.

set -u

[ $# -ge 4 ] || { echo "usage: $0 check|bench|kvmtool KERNELDIR INITRD LOGDIR [RESULT...]" >&2; exit 2; }
mode=$1 kdir=$2 initrd=$3 logdir=$4
shift 4
limit=${NESTED_TIMEOUT:-2400}
smp=${NESTED_SMP:-2}
mem=${NESTED_MEM:-2G}
tcg=${NESTED_TCG:-single}
mkdir -p "$logdir"
console=$logdir/console.log
rcfile=$logdir/qemu.rc
pidfile=$logdir/qemu.pid
stuckfile=$logdir/qemu.stuck
rm -f "$console" "$rcfile" "$pidfile" "$stuckfile"
stuck_max=0
[ "$mode" = kvmtool ] && stuck_max=${NESTED_STUCK_SECONDS:-120}

# Guest kernel lines that fail the run.  The one advisory every boot on an
# emulated EPYC prints ("Speculative Return Stack Overflow: WARNING: See
# https://...") is not a warning splat and is let through.
bad='BUG|WARNING|Oops|soft lockup|Call Trace|Kernel panic|hard LOCKUP|rcu.*stall'
benign='Speculative Return Stack Overflow: WARNING: See '
klog='^\[ *[0-9]+\.[0-9]+\] '

# Lines as they come, not in 4 KiB blocks: tr's output through stdbuf, and
# mawk (Debian's awk) told to read line by line.
awk_live=
awk -W version 2>/dev/null | grep -q mawk && awk_live='-W interactive'

echo "nested: guest kernel $(cat "$kdir/version")"
echo "nested: $(qemu-system-x86_64 --version | head -n 1), -accel tcg,thread=$tcg -cpu EPYC -smp $smp -m $mem; time limit ${limit}s"
echo "nested: serial console in $console"
start=$(date +%s)
# shellcheck disable=SC2086 # $awk_live is empty or an option and its value
{
	timeout -k 10 "$limit" qemu-system-x86_64 \
		-accel tcg,thread="$tcg" -cpu EPYC -smp "$smp" -m "$mem" \
		-kernel "$kdir/vmlinuz" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 oops=panic ${NESTED_APPEND:-}" \
		-nographic -monitor none -nic none -no-reboot -pidfile "$pidfile" \
		< /dev/null 2> "$logdir/qemu.err"
	echo $? > "$rcfile"
} | stdbuf -oL tr -d '\r' | tee "$console" | awk $awk_live -v bad="$bad" -v benign="$benign" -v klog="$klog" \
	-v stuck_max="$stuck_max" -v pidfile="$pidfile" -v stuckfile="$stuckfile" '
	# An outer CPU stuck for stuck_max seconds: QEMU is stopped (once).
	stuck_max > 0 && !stopped && match($0, /soft lockup - CPU#[0-9]+ stuck for [0-9]+s/) {
		n = substr($0, RSTART, RLENGTH); sub(/.* for /, "", n); sub(/s$/, "", n)
		if (n + 0 >= stuck_max + 0) {
			stopped = 1
			print n > stuckfile; close(stuckfile)
			if ((getline pid < pidfile) > 0) system("kill -KILL " pid)
		}
	}
	# The guest init'"'"'s lines, the runner'"'"'s output, and kernel lines
	# printed while the programs ran or matching the bad patterns.
	/^kvmhold-nested: begin/ { sec = 1; run = $3 }
	/^kvmhold-nested: (done|end)/ { sec = 0 }
	/^kvmhold-nested: / { print; fflush(); next }
	# The runner'"'"'s own closing line: the verdict comes after, from here.
	sec && /^[0-9]+ passed, [0-9]+ failed/ { print "(inside the guest, run.sh counted " $0 " in " run ")"; fflush(); next }
	$0 ~ klog { if (sec || ($0 ~ bad && index($0, benign) == 0)) { print "  guest kernel: " $0; fflush() } next }
	sec { print; fflush() }'
secs=$(($(date +%s) - start))
qrc=$(cat "$rcfile" 2>/dev/null || echo 255)

# ---- verdict ---------------------------------------------------------------
problems=
problem() { problems="$problems$1
"; }

if [ -s "$stuckfile" ]; then
	problem "nested-guest: an outer CPU was stuck for $(cat "$stuckfile") s (soft lockup); QEMU stopped"
elif [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	problem "nested-guest: did not finish within ${limit}s (NESTED_TIMEOUT); QEMU killed"
elif [ "$qrc" -ne 0 ]; then
	problem "nested-guest: QEMU exited with status $qrc: $(tail -n 3 "$logdir/qemu.err" | tr '\n' ' ')"
elif ! grep -q '^kvmhold-nested: guest ' "$console"; then
	problem "nested-guest: the guest's init never ran (see $console)"
elif ! grep -q '^kvmhold-nested: end rc=' "$console"; then
	problem "nested-guest: the guest stopped before the end of the run (see $console)"
fi
grep -q '^kvmhold-nested: NO-KVM:' "$console" &&
	problem "nested-kvm: /dev/kvm did not appear in the guest (kvm_amd did not load)"
grep -q '^kvmhold-nested: NO-KVM-KICK:' "$console" &&
	problem "nested-kvm-kick: the patched kvm.ko/kvm-amd.ko did not load in the guest (see $console)"
badlines=$(grep -E "$klog" "$console" | grep -E "$bad" | grep -vF "$benign")
[ -n "$badlines" ] &&
	problem "nested-kernel-log: the guest kernel printed $(printf '%s\n' "$badlines" | wc -l) line(s) matching BUG/WARNING/Oops/lockup/Call Trace/panic/stall (see $console)"

guest_rc=$(sed -n 's/^kvmhold-nested: end rc=\([0-9]*\).*/\1/p' "$console" | tail -n 1)
echo "nested: guest ran ${secs}s from boot to power-off"

if [ "$mode" = bench ]; then
	[ -n "$guest_rc" ] && [ "$guest_rc" -ne 0 ] && problem "bench: kvmhold-bench exited with status $guest_rc"
	if [ -n "$problems" ]; then
		printf '%s' "$problems" | sed 's/^/FAIL  /'
		exit 1
	fi
	echo "bench-nested: OK"
	exit 0
fi

if [ "$mode" = kvmtool ]; then
	echo
	echo "nested: kvmtool runs on upstream KVM (Debian's kvm_amd; QEMU TCG); L2 console in $console (lines \"  l2| \")"
	"$(dirname "$0")/kvmtool-verdict.sh" "$console" "$@"
	vrc=$?
	[ -z "$problems" ] && exit "$vrc"
	printf '%s' "$problems" | sed 's/^/FAIL  /'
	[ -n "$badlines" ] && printf '%s\n' "$badlines" | head -n 20 | sed 's/^/    | /'
	# The outer guest hung, or its kernel reported only stalls and soft
	# lockups (a CPU kept in the L2 guest for long): the setup's failure,
	# like the verdict's status 3 (nested/kvmtool-lane.sh runs again).
	others=$(printf '%s' "$problems" | grep -v -e '^nested-guest: did not finish' \
		-e '^nested-guest: an outer CPU was stuck' \
		-e '^nested-guest: the guest stopped before' -e '^nested-kernel-log: ')
	stalls='soft lockup|hard LOCKUP|rcu.*stall'
	case $problems in
	*nested-kernel-log:*)
		# A stall report and its Call Traces only; a Call Trace alone (a
		# hung task, say) is not the outer guest hanging.
		if ! printf '%s\n' "$badlines" | grep -qE "$stalls" ||
			printf '%s\n' "$badlines" | grep -vE "$stalls|Call Trace" | grep -q .; then
			others="$others kernel"
		fi ;;
	esac
	if [ -z "$others" ] && [ "$vrc" -ne 1 ]; then
		echo "nested: a setup failure of the outer guest"
		exit 3
	fi
	exit 1
fi

# check: the runner's lines between the markers.
results=$(sed -n '/^kvmhold-nested: begin/,/^kvmhold-nested: end/p' "$console" |
	grep -vE "$klog" | grep -E '^(PASS|FAIL|SKIP)  ')
passed=$(printf '%s\n' "$results" | grep -c '^PASS  ')
failed=$(printf '%s\n' "$results" | grep -c '^FAIL  ')
names=$(printf '%s\n' "$results" | sed -n 's/^FAIL  \([^ ]*\) .*/\1/p' | tr '\n' ' ')
# A result that never came (the guest stopped or hung) is a failure.
for t in "$@"; do
	printf '%s\n' "$results" | grep -qE "^(PASS|FAIL|SKIP)  $t( |$)" && continue
	problem "$t: no result (the guest stopped before it reported)"
done

echo
echo "nested: results on upstream KVM (kvm_amd: Debian's, then patched; QEMU TCG)"
[ -n "$results" ] && printf '%s\n' "$results" | sed 's/^/  /'
if [ -n "$problems" ]; then
	printf '%s' "$problems" | sed 's/^/FAIL  /'
	[ -n "$badlines" ] && printf '%s\n' "$badlines" | head -n 20 | sed 's/^/    | /'
	failed=$((failed + $(printf '%s' "$problems" | grep -c .)))
	names="$names$(printf '%s' "$problems" | sed 's/:.*//' | tr '\n' ' ')"
fi
# Per run: kick_test-stock, signal, kick_test, kernel.
printf '%s\n' "$results" | awk '
	NF >= 2 { r = $2; sub("/.*", "", r); if (!(r in n)) order[++k] = r; n[r]++; c[r, $1]++ }
	END {
		for (i = 1; i <= k; i++) {
			r = order[i]
			line = line sprintf("%s%s %d passed, %d failed%s", i > 1 ? "; " : "", r,
				c[r, "PASS"], c[r, "FAIL"], c[r, "SKIP"] ? ", " c[r, "SKIP"] " skipped" : "")
		}
		if (k) print "by run: " line
	}'
[ -n "$names" ] && echo "failed: ${names% }"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
