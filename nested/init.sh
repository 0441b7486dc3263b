#!/bin/busybox sh
# SPDX-License-Identifier: MIT
#
# /init of the nested lane's guest (upstream KVM inside QEMU TCG): mounts
# the pseudo file systems, loads the KVM modules, checks /dev/kvm, runs the
# test programs with tests/run.sh (or the benchmark), and powers off.  The
# host (nested/boot.sh) reads the serial console: lines starting with
# "kvmhold-nested:" are this script's, and the output between the "begin"
# and "end rc=N" markers is the runner's.

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

say "guest $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)"
grep -qw svm /proc/cpuinfo || say "no svm flag in /proc/cpuinfo"
for m in irqbypass ccp kvm kvm-amd; do
	insmod /lib/modules/$m.ko || say "insmod $m.ko failed"
done
i=0
while [ ! -c /dev/kvm ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -c /dev/kvm ]; then
	say "NO-KVM: /dev/kvm did not appear"
	finish 1
fi
p=/sys/module/kvm_amd/parameters
say "KVM: kvm_amd npt=$(cat $p/npt 2>/dev/null) nested=$(cat $p/nested 2>/dev/null) avic=$(cat $p/avic 2>/dev/null)"

say "begin $MODE"
case $MODE in
check)
	# shellcheck disable=SC2086 # TESTS_RUN is a list of names
	TEST_TIMEOUT=${TEST_TIMEOUT:-300} run.sh /tests $TESTS_RUN
	rc=$? ;;
bench)
	# The console is a terminal: through a pipe, the benchmark leaves out
	# its progress line.
	{
		# shellcheck disable=SC2086 # BENCH_ARGS is a list of arguments
		"/bin/$PROGRAM" $BENCH_ARGS 2>&1
		echo $? > /tmp/bench.rc
	} | cat
	rc=$(cat /tmp/bench.rc) ;;
esac
finish "$rc"
