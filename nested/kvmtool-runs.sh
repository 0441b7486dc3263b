#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# shellcheck shell=dash
#
# The kvmtool lane's runs, inside the nested lane's guest (nested/init.sh,
# MODE=kvmtool, after Debian's stock kvm.ko/kvm-amd.ko loaded): lkvm
# (/bin/lkvm) boots the second-level guest (/l2/vmlinuz, the same Debian
# kernel, and /l2/initrd.cpio, integrations/kvmtool/guest/) with two vCPUs,
# KVMTOOL_MEM MiB and a fresh virtio-blk disk, and its workload runs for a
# fixed time.  This script only runs and reports; nested/kvmtool-verdict.sh
# judges on the host.  Each run prints
#
#   kvmhold-nested: begin kvmtool/NAME
#   kvmhold-nested: expect kvmtool/NAME pass|damage|mismatch|boot
#   kvmhold-nested: lkvm kvmtool/NAME <the lkvm options>
#     l2| <each line of the L2 console, then each line lkvm wrote to stderr>
#   kvmhold-nested: l2-init kvmtool/NAME <seconds from lkvm's start to the L2 init's first line>
#   kvmhold-nested: TIMEOUT kvmtool/NAME after Ns      (lkvm killed)
#   kvmhold-nested: l2-rip kvmtool/NAME RIP FUNCTION+OFFSET   (where a vCPU
#     stopped on an error; after a TIMEOUT, also where the L2 vCPUs were at
#     lkvm's last checkpoints)
#   kvmhold-nested: done kvmtool/NAME rc=N secs=N
#
# The "  l2| " prefix keeps the L2 kernel's lines apart from the outer
# kernel's: boot.sh fails the run on outer kernel lines ("[ time ] ...")
# with WARNING or BUG, and the L2 kernel's lines are judged by the verdict.
#
# KVMTOOL_BOOTS=0 (check): the runs of KVMTOOL_RUNS (default all four):
#   reshape           --kvmhold-reshape --kvmhold-migrate-check
#                     --kvmhold-pause-bench=N, KVMTOOL_SECONDS of workload:
#                     must pass
#   plain             the same without --kvmhold-reshape (the workload's
#                     speed without reshaping, for comparison): must pass
#   break-txn-hold    reshape with --kvmhold-break=txn-hold, for
#                     KVMTOOL_PROOF_SECONDS: must show guest damage
#   break-dirty-mark  migrate check with --kvmhold-break=dirty-mark: must
#                     find mismatches
# KVMTOOL_BOOTS=N: N boots with KVMTOOL_BOOT_SECONDS of workload and
#   KVMTOOL_BOOT_ARGS (default none: works with a pristine lkvm too), runs
#   kvmtool/bootI, each to be judged on its verdict: the stall count, and
#   with reshaping options in KVMTOOL_BOOT_ARGS the triple-fault count.
# KVMTOOL_KVM_PARAMS and KVMTOOL_KVM_AMD_PARAMS (nested/init.sh): parameters
# of the outer guest's kvm.ko and kvm-amd.ko.
#
# The L2 kernel gets "nolapic_timer", and the lane runs QEMU with
# thread=multi (the Makefile's KVMTOOL_TCG; the nested lane has
# thread=single).  With thread=single and two outer CPUs, a second-level
# Linux on the local-APIC timer deadlocked in 13 of 18 boots in an earlier
# round (it took an APIC timer interrupt with interrupts disabled, most
# likely QEMU 7.2's SVM emulation), and never in 4 with nolapic_timer.  In
# this lane, on a loaded machine, it stalled with nolapic_timer too: 7 of 8
# boots (KVMTOOL_BOOTS=8 KVMTOOL_TCG=single, lkvm killed after 75 s; the
# one that passed took 17.6 s), and 2 of 2 before that (QEMU idle; one
# stopped after the last initcalls, before /init).  It never stalled with
# thread=multi (nor, earlier, with one outer CPU, which would take away the
# real races between lkvm's vCPU and device threads).  Measured with
# thread=multi and nolapic_timer
# (KVMTOOL_BOOTS=20, 5 s of workload each, December 2026): 0 stalls in 20
# boots (and 0 in 3 before), all VERDICT PASS; the L2 init ran 9.5/12.9/
# 21.6 s (min/median/max) after lkvm started, whole lkvm runs took 15.7/
# 21.8/40.3 s.
# "quiet": without it, the L2 kernel warns about an XSAVE size mismatch
# (QEMU's emulated EPYC) at every boot.  "nokaslr": so that name_rips can
# name the functions of a stuck L2 guest.

say() { echo "kvmhold-nested: $*"; }

mem=${KVMTOOL_MEM:-512}
disk=/tmp/l2disk.img

# name_rips NAME FILE: the kernel function at each L2 RIP in FILE (one a
# line): where a vCPU stopped on an error (what did it triple-fault in?)
# and, for a run killed at its time limit, where the vCPUs were at lkvm's
# last checkpoints (was the guest stuck on a lock, idle, still booting?).
# The L2 kernel is this one, booted with nokaslr, so its text lies at the
# link address (0xffffffff81000000) and this kernel's /proc/kallsyms,
# shifted by its own KASLR offset, names it.  Kernel text is below 4 GiB
# from 0xffffffff00000000: only the low 32 bits are compared (awk's
# numbers are doubles).
name_rips() {
	[ -s "$2" ] || return 0
	{ echo 0 > /proc/sys/kernel/kptr_restrict; } 2>/dev/null
	awk '!seen[$0]++' "$2" | awk -v name="$1" '
	function h32(x,   i, v) {
		x = tolower(x); sub(/^0x/, "", x); x = substr(x, length(x) - 7)
		v = 0
		for (i = 1; i <= length(x); i++) v = v * 16 + index("0123456789abcdef", substr(x, i, 1)) - 1
		return v
	}
	FNR == NR { if ($1 ~ /^0x/) { rip[++n] = $1; want[n] = $1 ~ /^0xffffffff[89ab]/ ? h32($1) : -1 } next }
	$3 == "_text" { shift = h32($1) - h32("81000000") }
	$2 ~ /^[tT]$/ && $1 != "0000000000000000" { a[++m] = h32($1); s[m] = $3 }
	END {
		for (i = 1; i <= n; i++) {
			best = ""; at = 0
			for (j = 1; j <= m && want[i] >= 0; j++)
				if (a[j] - shift <= want[i] && a[j] - shift >= at) { at = a[j] - shift; best = s[j] }
			printf "kvmhold-nested: l2-rip kvmtool/%s %s %s\n", name, rip[i],
				want[i] < 0 ? "(not kernel text)" : best == "" ? "?" :
				sprintf("%s+0x%x", best, want[i] - at)
		}
	}' - /proc/kallsyms
}

# The outer KVM's own record of a triple fault: on AMD, KVM resets the
# vCPU before it reports KVM_EXIT_SHUTDOWN, so lkvm's register dump shows
# the reset state.  The kvm_exit tracepoint fires before that, with the
# guest's RIP: keep only shutdown exits (SVM_EXIT_SHUTDOWN, 0x7f; VMX's
# triple fault, 2) and the exceptions KVM injected, which are rare, and
# print them after a run whose vCPU triple-faulted.
tr=/sys/kernel/tracing
trace_setup() {
	[ -d $tr/events ] || mount -t tracefs nodev $tr 2>/dev/null || return 0
	[ -d $tr/events/kvm/kvm_exit ] || return 0
	reason=2
	[ -d /sys/module/kvm_amd ] && reason=127
	echo 64 > $tr/buffer_size_kb
	# Without the filter every exit of the L2 guest would be traced.
	echo "exit_reason == $reason" > $tr/events/kvm/kvm_exit/filter || return 0
	echo 1 > $tr/events/kvm/kvm_exit/enable
	[ -d $tr/events/kvm/kvm_inj_exception ] && echo 1 > $tr/events/kvm/kvm_inj_exception/enable
	echo 1 > $tr/tracing_on
}
# trace_dump NAME: the last of those events, if the run triple-faulted;
# then an empty buffer for the next run.
trace_dump() {
	[ -f $tr/trace ] || return 0
	if grep -q 'exit reason 8$' /tmp/lkvm.err 2>/dev/null; then
		grep -v '^#' $tr/trace | tail -n 16 > /tmp/lkvm.trace
		sed "s|^ *|kvmhold-nested: l1-trace kvmtool/$1 |" /tmp/lkvm.trace
		# The guest's RIP at the shutdown, for name_rips.
		sed -n -e 's/.* reason shutdown rip \(0x[0-9a-f]*\) .*/\1/p' \
			-e 's/.* reason TRIPLE_FAULT rip \(0x[0-9a-f]*\) .*/\1/p' /tmp/lkvm.trace >> /tmp/lkvm.rips
		rm -f /tmp/lkvm.trace
	fi
	echo > $tr/trace
}

# run NAME EXPECT SECONDS LKVM-OPTION...
run_lkvm() {
	# No "local" in busybox sh: these names must not be the loop's own.
	run_name=$1 run_expect=$2 run_secs=$3
	shift 3
	# Pristine lkvm boots the L2 kernel to its init in 10-22 s here;
	# the port's reshape thread and checkpoints slow the start a lot:
	# 256 s in one CI run, whose reshape run took 330 s of the 360 it had
	# then.  The verdict fails a run killed at its limit (a hold that
	# never ends looks so), so the limit leaves room.
	limit=${KVMTOOL_RUN_TIMEOUT:-$((420 + 2 * run_secs))}
	say "begin kvmtool/$run_name"
	say "expect kvmtool/$run_name $run_expect"
	say "lkvm kvmtool/$run_name -m $mem -c 2 $* (workload ${run_secs}s, limit ${limit}s)"
	rm -f "$disk" /tmp/lkvm.rc /tmp/lkvm.err
	truncate -s 32M "$disk"
	read -r t0 _ < /proc/uptime
	{
		timeout -s KILL "$limit" lkvm run -k /l2/vmlinuz -i /l2/initrd.cpio \
			-m "$mem" -c 2 --console serial -n mode=none -d "$disk" \
			-p "${KVMTOOL_L2_BASE-quiet nolapic_timer nokaslr} kvmhold.seconds=$run_secs ${KVMTOOL_APPEND:-}" \
			"$@" < /dev/null 2>/tmp/lkvm.err
		echo $? > /tmp/lkvm.rc
	} | awk -v name="$run_name" -v t0="$t0" '
		{ sub(/\r$/, ""); print "  l2| " $0; fflush() }
		/kvmhold-guest: / && !seen {
			seen = 1
			getline u < "/proc/uptime"; close("/proc/uptime")
			split(u, a, " ")
			printf "kvmhold-nested: l2-init kvmtool/%s %.1fs\n", name, a[1] - t0
			fflush()
		}'
	read -r t1 _ < /proc/uptime
	# lkvm's own lines (the port's kvmhold-lkvm reports, kvmtool's errors)
	# come from stderr, kept apart from the guest's console on stdout:
	# the serial console writes a character at a time, and a line written
	# between two of them would cut into the guest's VERDICT line.
	awk '{ sub(/\r$/, ""); print "  l2| " $0 }' /tmp/lkvm.err
	# For name_rips: where a vCPU stopped on an error (from lkvm, and for
	# a triple fault from the outer KVM's trace), and the vCPUs' RIPs at
	# the last three checkpoints.
	sed -n 's/^kvmhold-lkvm: vcpu [0-9]* regs rip=\([^ ]*\).*/\1/p' /tmp/lkvm.err > /tmp/lkvm.rips
	trace_dump "$run_name"
	sed -n 's/^kvmhold-lkvm: checkpoint .* rips=//p' /tmp/lkvm.err | tail -n 3 |
		tr ',' '\n' > /tmp/lkvm.ckrips
	rm -f /tmp/lkvm.err
	r=$(cat /tmp/lkvm.rc 2>/dev/null || echo 255)
	took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	# busybox timeout leaves lkvm's own status: killed is 137.
	if [ "$r" -eq 137 ] && awk -v t="$took" -v l="$limit" 'BEGIN { exit !(t >= l - 1) }'; then
		say "TIMEOUT kvmtool/$run_name after ${limit}s"
		cat /tmp/lkvm.ckrips >> /tmp/lkvm.rips
	fi
	name_rips "$run_name" /tmp/lkvm.rips
	rm -f /tmp/lkvm.rips /tmp/lkvm.ckrips
	say "done kvmtool/$run_name rc=$r secs=$took"
	rm -f "$disk"
}

trace_setup
if [ "${KVMTOOL_BOOTS:-0}" -gt 0 ]; then
	i=1
	while [ "$i" -le "$KVMTOOL_BOOTS" ]; do
		# shellcheck disable=SC2086 # KVMTOOL_BOOT_ARGS is a list of options
		run_lkvm "boot$i" boot "${KVMTOOL_BOOT_SECONDS:-5}" ${KVMTOOL_BOOT_ARGS:-}
		i=$((i + 1))
	done
	exit 0
fi

secs=${KVMTOOL_SECONDS:-60}
proof=${KVMTOOL_PROOF_SECONDS:-20}
# Each kvmtool pause stops the guest for long under TCG: 200 of them kept
# the L2 guest from booting within minutes.
bench=${KVMTOOL_PAUSE_BENCH:-20}
# KVMTOOL_LKVM_ARGS: more lkvm options for each of these runs (e.g. the
# port's --kvmhold-pace=MS).
seen=" "
for r in ${KVMTOOL_RUNS:-reshape plain break-txn-hold break-dirty-mark}; do
	# A run asked for twice gets a name of its own (reshape-2, ...): the
	# verdict judges each name once.
	name=$r k=2
	while case $seen in *" $name "*) true ;; *) false ;; esac; do
		name=$r-$k k=$((k + 1))
	done
	seen="$seen$name "
	# shellcheck disable=SC2086 # KVMTOOL_LKVM_ARGS is a list of options
	case $r in
	reshape)
		run_lkvm "$name" pass "$secs" --kvmhold-reshape --kvmhold-migrate-check \
			--kvmhold-pause-bench="$bench" ${KVMTOOL_LKVM_ARGS:-} ;;
	plain)
		run_lkvm "$name" pass "$secs" --kvmhold-migrate-check \
			--kvmhold-pause-bench="$bench" ${KVMTOOL_LKVM_ARGS:-} ;;
	break-txn-hold)
		run_lkvm "$name" damage "$proof" --kvmhold-reshape \
			--kvmhold-migrate-check --kvmhold-break=txn-hold ${KVMTOOL_LKVM_ARGS:-} ;;
	break-dirty-mark)
		run_lkvm "$name" mismatch "$proof" --kvmhold-migrate-check \
			--kvmhold-break=dirty-mark ${KVMTOOL_LKVM_ARGS:-} ;;
	# Diagnostic runs, not in the default list: reshape with one of its
	# companions left out, to tell which part a failure needs.
	reshape-nomigrate)
		run_lkvm "$name" pass "$secs" --kvmhold-reshape \
			--kvmhold-pause-bench="$bench" ${KVMTOOL_LKVM_ARGS:-} ;;
	reshape-nobench)
		run_lkvm "$name" pass "$secs" --kvmhold-reshape \
			--kvmhold-migrate-check ${KVMTOOL_LKVM_ARGS:-} ;;
	reshape-only)
		run_lkvm "$name" pass "$secs" --kvmhold-reshape ${KVMTOOL_LKVM_ARGS:-} ;;
	*)
		say "unknown run $r (KVMTOOL_RUNS)" ;;
	esac
done
