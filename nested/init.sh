#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# shellcheck shell=dash
#
# /init of the nested lane's guest (upstream KVM inside QEMU TCG): mounts
# the pseudo file systems, loads the KVM modules, runs the programs and
# powers off.  The host (nested/boot.sh) reads the serial console: lines
# starting with "kvmhold-nested:" are this script's; each run sits between
# "begin NAME" and "done NAME rc=N", and "end rc=N" closes the whole.
#
# check: on Debian's stock kvm.ko/kvm-amd.ko, `kick_test --stock` (result
#   kick_test-stock) and, if NESTED_KICK has "signal", the suite with
#   KVMHOLD_TEST_KICK=signal (results signal/NAME); then rmmod kvm_amd kvm,
#   insmod the patched kvm.ko/kvm-amd.ko (lib/modules/kick/), `kick_test`
#   (result kick_test) and, if NESTED_KICK has "kernel", the suite with
#   KVMHOLD_TEST_KICK=kernel (results kernel/NAME) and tests/prove.sh with
#   the kernel kick switched off (result kernel/prove).
# bench: the benchmark on the patched modules, so that its strategies that
#   need KVM_CAP_KICK_ALL_RUNNING_VCPUS run.
# kvmtool: on Debian's stock kvm.ko/kvm-amd.ko, lkvm boots a second-level
#   guest (nested/kvmtool-runs.sh: the runs, their lines and why the L2
#   kernel gets nolapic_timer); nested/kvmtool-verdict.sh judges them.

/bin/busybox --install -s /bin
export PATH=/bin HOME=/ TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# shellcheck source=/dev/null # written by nested/initramfs.sh
. /etc/kvmhold-nested.conf

say() { echo "kvmhold-nested: $*"; }
finish() {
	echo
	say "end rc=$1"
	sync
	poweroff -f
	sleep 10
}

# Waits (up to 5 s) for /dev/kvm, which kvm.ko creates and removes.
kvm_present() {
	i=0
	while [ ! -c /dev/kvm ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -c /dev/kvm ]
}
kvm_absent() {
	i=0
	while [ -e /dev/kvm ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ ! -e /dev/kvm ]
}
kvm_info() {
	p=/sys/module/kvm_amd/parameters
	say "KVM ($1): kvm_amd npt=$(cat $p/npt 2>/dev/null) nested=$(cat $p/nested 2>/dev/null) avic=$(cat $p/avic 2>/dev/null) nrips=$(cat $p/nrips 2>/dev/null), kvm eager_page_split=$(cat /sys/module/kvm/parameters/eager_page_split 2>/dev/null) tdp_mmu=$(cat /sys/module/kvm/parameters/tdp_mmu 2>/dev/null), taint $(cat /proc/sys/kernel/tainted)"
}

say "guest $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)"
grep -qw svm /proc/cpuinfo || say "no svm flag in /proc/cpuinfo"
# The SVM features the emulated CPU offers (QEMU TCG has few of them).
say "svm features: $(grep -m 1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'npt|nrip_save|flushbyasid|decodeassists|vmcb_clean|lbrv|tsc_scale|pausefilter|vgif|v_vmsave_vmload|svm_lock' | tr '\n' ' ')"
insmod /lib/modules/irqbypass.ko || say "insmod irqbypass.ko failed"
insmod /lib/modules/ccp.ko || say "insmod ccp.ko failed"

# The patched kvm.ko and kvm-amd.ko in place of the stock ones.  The
# stock kvm_amd may stay busy for a moment after the last VM's fd closed.
load_patched() {
	if [ -e /sys/module/kvm ]; then
		i=0
		until rmmod kvm_amd kvm 2>/dev/null; do
			i=$((i + 1))
			[ $i -lt 50 ] || { rmmod kvm_amd kvm; return 1; }
			sleep 0.1
		done
		kvm_absent || return 1
	fi
	insmod /lib/modules/kick/kvm.ko && insmod /lib/modules/kick/kvm-amd.ko && kvm_present
}

# Debian's stock kvm.ko and kvm-amd.ko (check and kvmtool modes); the
# run ends here if /dev/kvm does not appear.
load_stock_kvm() {
	# shellcheck disable=SC2086 # KVMTOOL_KVM_PARAMS is a list of parameters
	insmod /lib/modules/kvm.ko ${KVMTOOL_KVM_PARAMS:-} || say "insmod kvm.ko failed"
	# shellcheck disable=SC2086 # KVMTOOL_KVM_AMD_PARAMS is a list of parameters
	insmod /lib/modules/kvm-amd.ko ${KVMTOOL_KVM_AMD_PARAMS:-} || say "insmod kvm-amd.ko failed"
	if ! kvm_present; then
		say "NO-KVM: /dev/kvm did not appear"
		finish 1
	fi
	kvm_info stock
}

# Seconds since boot, with a fraction.
uptime_s() { read -r t _ < /proc/uptime; echo "$t"; }

rc=0
# run NAME COMMAND...: one result line NAME; the command's lines indented.
run_program() {
	name=$1
	shift
	say "begin $name"
	t0=$(uptime_s)
	{ "$@" 2>&1; echo $? > /tmp/program.rc; } | sed 's/^/    /'
	r=$(cat /tmp/program.rc)
	secs=$(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')
	if [ "$r" -eq 0 ]; then
		printf 'PASS  %-28s %6ss\n' "$name" "$secs"
	else
		printf 'FAIL  %-28s %6ss (exit %d)\n' "$name" "$secs" "$r"
		rc=1
	fi
	say "done $name rc=$r"
}
# suite KICK: the runner with KVMHOLD_TEST_KICK=KICK, results KICK/NAME.
run_suite() {
	say "begin $1"
	{
		# shellcheck disable=SC2086 # TESTS_RUN is a list of names
		KVMHOLD_TEST_KICK=$1 TEST_TIMEOUT=${TEST_TIMEOUT:-300} run.sh /tests $TESTS_RUN
		echo $? > /tmp/suite.rc
	} | sed -e "s#^PASS  #PASS  $1/#" -e "s#^FAIL  #FAIL  $1/#" -e "s#^SKIP  #SKIP  $1/#"
	r=$(cat /tmp/suite.rc)
	[ "$r" -eq 0 ] || rc=1
	say "done $1 rc=$r"
}
has_kick() { case " $NESTED_KICK " in *" $1 "*) return 0 ;; esac; return 1; }

case $MODE in
check)
	load_stock_kvm
	run_program kick_test-stock kick_test --stock
	has_kick signal && run_suite signal
	if ! load_patched; then
		say "NO-KVM-KICK: the patched kvm.ko/kvm-amd.ko did not load"
		finish 1
	fi
	kvm_info patched
	run_program kick_test kick_test
	if has_kick kernel; then
		run_suite kernel
		# The kernel suite's tests fail with the kernel kick off.
		# shellcheck disable=SC2086 # TESTS_RUN is a list of names
		run_program kernel/prove env KVMHOLD_TEST_KICK=kernel prove.sh /tests $TESTS_RUN
	fi
	;;
bench)
	if ! load_patched; then
		say "NO-KVM-KICK: the patched kvm.ko/kvm-amd.ko did not load"
		finish 1
	fi
	kvm_info patched
	say "begin bench"
	# The console is a terminal: through a pipe, the benchmark leaves out
	# its progress line.
	{
		# shellcheck disable=SC2086 # BENCH_ARGS is a list of arguments
		"/bin/$PROGRAM" $BENCH_ARGS 2>&1
		echo $? > /tmp/bench.rc
	} | cat
	rc=$(cat /tmp/bench.rc)
	say "done bench rc=$rc" ;;
kvmtool)
	load_stock_kvm
	kvmtool-runs.sh ;;
esac
finish "$rc"
