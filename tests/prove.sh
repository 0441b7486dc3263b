#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Proves the tests can fail: runs each test with the library mechanism it
# checks switched off (KVMHOLD_TEST_BREAK, see src/test_hooks.h) and expects
# it to FAIL.  A test that still passes with its mechanism off proves
# nothing, and this script then fails.
#
# With KVMHOLD_TEST_KICK=kernel (the patched KVM modules of kernel/, in the
# nested lane) the tests are proved against the kernel kick backend: holds
# that neither kick nor resume KVM must fail them.
#
# usage: prove.sh DIR [TEST...]   only the pairs of these tests if given
# environment: TEST_TIMEOUT (seconds per run, 120)

dir=$1
shift
only=" $* "
timeout_s=${TEST_TIMEOUT:-120}
proved=0 unproved=0

# Each test and the switch that must make it fail, for the chosen backend.
pairs() {
	if [ "${KVMHOLD_TEST_KICK:-signal}" = kernel ]; then
		cat <<EOF
hold_freeze       kernel-kick
hold_race         kernel-kick
hold_timeout      kernel-kick
txn_stress        txn-hold
EOF
		return
	fi
	cat <<EOF
hold_freeze       entry-check
hold_race         immediate-exit
hold_race         kick-signal
hold_concurrent   entry-check
hold_vcpu_thread  entry-check
hold_halted       kick-signal
txn_stress        txn-hold
txn_faults        txn-undo
txn_concurrent    txn-hold
dirty_basic       dirty-harvest
dirty_migrate     dirty-harvest
dirty_concurrent  dirty-harvest
EOF
}

pairs > "${TMPDIR:-/tmp}/prove.$$"
while read -r name switch; do
	[ -n "$name" ] || continue
	[ "$only" = "  " ] || case $only in *" $name "*) ;; *) continue ;; esac
	if KVMHOLD_TEST_BREAK=$switch timeout -k 5 "$timeout_s" "$dir/$name" > /dev/null 2>&1; then
		printf 'NOT PROVED  %-20s still passes with %s off\n' "$name" "$switch"
		unproved=$((unproved + 1))
	else
		printf 'proved      %-20s fails with %s off\n' "$name" "$switch"
		proved=$((proved + 1))
	fi
done < "${TMPDIR:-/tmp}/prove.$$"
rm -f "${TMPDIR:-/tmp}/prove.$$"

echo "$proved proved, $unproved not proved"
[ "$unproved" -eq 0 ]
