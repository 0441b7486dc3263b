#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Proves the tests can fail: runs each test with the library mechanism it
# checks switched off (KVMHOLD_TEST_BREAK, see src/test_hooks.h) and expects
# it to FAIL.  A test that still passes with its mechanism off proves
# nothing, and this script then fails.
#
# With KVMHOLD_TEST_KICK=kernel (the patched KVM modules of kernel/, in the
# nested lane) the tests are proved against the kernel kick backend: KVM
# returns the vCPUs to userspace and signals reach only stragglers, so the
# kick is shown by a vCPU that blocks the kick signal (hold_timeout) and by
# turning off both ways out (hold_race).
#
# With the signal backend every test program in DIR must be accounted for:
# paired with a switch below, or exempt with its reason.  A new test that is
# neither fails this script, so no test goes unproved by omission.
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
hold_freeze       entry-check
hold_race         kernel-kick,kick-signal
hold_timeout      kernel-kick
kick_parked       park-exits
txn_stress        txn-hold
txn_spaces        space-ids
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
hold_timeout      timeout-undo
hold_joined       section-release
hold_destroy      leave-wake
hold_stopped_time stopped-time
hold_spin_budget  adaptive-spin
hold_leave_wake   wake-target
hold_leave_wake   wake-every-leave
gate_nested_limit nested-limit
txn_commit_holds  commit-holds
kick_parked       park-exits
vmm_kicks         ie-owner
vmm_kicks         park-exits
vmm_kicks         kicks-sample
hold_owners       record-reclaim
hold_owners       deferred-release
adopt_noproc      adopt-lookup
adopt_refused     adopt-order
gate_sections     entry-check
api_errors        signal-owner
avl_tree          avl-rebalance
txn_stress        txn-hold
txn_faults        txn-undo
txn_concurrent    txn-hold
txn_joined        commit-exclusive
txn_park_quiet    exclusive-wake
txn_unseen        txn-fail-hold
txn_nomem         txn-reserve
txn_model         range-check
txn_errors        range-check
txn_gmem          gmem-offset
adopt_regions     adopted-ids
dirty_basic       dirty-harvest
dirty_migrate     dirty-harvest
dirty_migrate     dirty-mark
dirty_concurrent  dirty-harvest
dirty_mark        dirty-mark
dirty_ring_flush  ring-flush
dirty_ranges      logged-merge
mem_huge          dirty-harvest
EOF
}

# Tests with no library switch, and why that is no gap.
exempt() {
	cat <<EOF
vmm_smoke         tests the test VMM, not the library, and holds its own failing cases (a hole the walker must see, a guest assertion, a #UD)
txn_spaces        needs a KVM with two address spaces: proved in the nested lane (kvm_amd), with space-ids off
dirty_sync_destroy catches a use after free that only a sanitizer sees (CI runs the suite with SANITIZE=address): shown with the sync's statistics counted after its gate_leave()
EOF
}

# Signal backend, whole suite: a test program that is neither paired nor
# exempt is reported and fails the run.
unlisted=0
if [ "${KVMHOLD_TEST_KICK:-signal}" != kernel ] && [ "$only" = "  " ]; then
	for t in "$dir"/*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		name=$(basename "$t")
		if ! { pairs; exempt; } | awk -v n="$name" '$1 == n { found = 1 } END { exit !found }'; then
			printf 'NOT PROVED  %-20s has no switch in prove.sh and is not exempt\n' "$name"
			unlisted=$((unlisted + 1))
		fi
	done
fi

pairs > "${TMPDIR:-/tmp}/prove.$$"
while read -r name switch; do
	[ -n "$name" ] || continue
	[ "$only" = "  " ] || case $only in *" $name "*) ;; *) continue ;; esac
	if [ ! -x "$dir/$name" ]; then
		# A test that cannot run would "fail" and look proved.
		printf 'NOT PROVED  %-20s is not in %s\n' "$name" "$dir"
		unproved=$((unproved + 1))
	elif KVMHOLD_TEST_BREAK=$switch timeout -k 5 "$timeout_s" "$dir/$name" > /dev/null 2>&1; then
		printf 'NOT PROVED  %-20s still passes with %s off\n' "$name" "$switch"
		unproved=$((unproved + 1))
	else
		printf 'proved      %-20s fails with %s off\n' "$name" "$switch"
		proved=$((proved + 1))
	fi
done < "${TMPDIR:-/tmp}/prove.$$"
rm -f "${TMPDIR:-/tmp}/prove.$$"

unproved=$((unproved + unlisted))
echo "$proved proved, $unproved not proved"
[ "$unproved" -eq 0 ]
