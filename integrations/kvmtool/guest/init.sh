#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# shellcheck shell=dash
#
# /init of the kvmtool lane's second-level guest: Debian's kernel booted
# by lkvm (inside the nested lane's guest) with a virtio-blk disk.  Loads
# the virtio modules (lib/modules/l2.order: their dependency order), runs
# two kvmhold-checker processes (one per vCPU, each on its half of the
# disk) for kvmhold.seconds= (kernel command line; default 30), prints one
# verdict line and resets the machine (lkvm boots x86 guests with
# reboot=k and exits on the reset):
#
#   kvmhold-guest: VERDICT PASS rounds=N pages=N pages_verified=N files=N blk_ios=N
#   kvmhold-guest: VERDICT FAIL <what>
#
# A checker's error or a BUG/WARNING/Oops/lockup in the kernel log (which
# "quiet" keeps off the console; printed as "kvmhold-guest: kernel-log")
# fails the verdict.
# rounds, pages (the working sets), pages_verified, files and blk_ios are
# the sums over both checkers.  Every line of this guest's own starts with
# "kvmhold-guest: ".

/bin/busybox --install -s /bin
export PATH=/bin HOME=/ TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

say() { echo "kvmhold-guest: $*"; }
verdict() {
	say "VERDICT $*"
	sync
	reboot -f
	sleep 10
}

seconds=30
read -r cmdline < /proc/cmdline
for w in $cmdline; do
	case $w in
	kvmhold.seconds=*) seconds=${w#kvmhold.seconds=} ;;
	esac
done

while read -r m; do
	insmod "/lib/modules/$m.ko" || verdict "FAIL insmod $m.ko"
done < /lib/modules/l2.order
# virtio_blk probes asynchronously: up to 10 s for /dev/vda.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/vda ] || verdict "FAIL no /dev/vda (the virtio-blk disk)"

ncpu=$(nproc)
mem=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
bytes=$(blockdev --getsize64 /dev/vda)
say "start $(uname -r) cpus=$ncpu mem=${mem}MiB disk=$((bytes >> 20))MiB seconds=$seconds"
[ "$ncpu" -ge 2 ] || say "only $ncpu CPU: both checkers share it"

# Two checkers, 35% of the available memory each, half the disk each.
half=$((bytes / 4096 / 2))
for c in 0 1; do
	{
		kvmhold-checker $c "$seconds" 35 "/tmp/c$c" /dev/vda $((c * half)) $half
		echo $? > "/tmp/c$c.rc"
	} | tee "/tmp/c$c.out" &
done
wait

fail=
for c in 0 1; do
	rc=$(cat "/tmp/c$c.rc" 2>/dev/null || echo missing)
	[ "$rc" = 0 ] && continue
	what=$(grep -m 1 ' ERROR ' "/tmp/c$c.out" | sed 's/^kvmhold-guest: //')
	fail="${fail:+$fail; }checker $c exit $rc${what:+: $what}"
done
# The kernel's own complaints, which "quiet" kept off the console (all but
# what every boot on QEMU's emulated EPYC gives: the XSAVE size warning,
# from fpu/xstate.c, with its trace, and the SRSO advisory, which is no
# warning splat: nested/boot.sh lets it through too).
dmesg | awk '
	/Speculative Return Stack Overflow: WARNING: See / { next }
	/WARNING: .*fpu\/xstate\.c/ { skip = 1 }
	/---\[ end trace/ { if (skip) { skip = 0; next } }
	!skip && /BUG:|WARNING:|Oops|Call Trace|soft lockup|hard LOCKUP|rcu.*stall|general protection/' |
	head -n 5 > /tmp/klog
while read -r l; do say "kernel-log $l"; done < /tmp/klog
[ -s /tmp/klog ] && fail="${fail:+$fail; }kernel log: $(head -n 1 /tmp/klog)"
[ -z "$fail" ] || verdict "FAIL $fail"

sums=$(cat /tmp/c0.out /tmp/c1.out | awk '
	/ (PASS|FAIL) rounds=/ {
		for (i = 1; i <= NF; i++)
			if (split($i, kv, "=") == 2) s[kv[1]] += kv[2]
	}
	END { printf "rounds=%d pages=%d pages_verified=%d files=%d blk_ios=%d",
		s["rounds"], s["pages"], s["pages_verified"], s["files"], s["blk_ios"] }')
verdict "PASS $sums"
