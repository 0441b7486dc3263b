#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Runs the examples as tests: each must exit 0 and print its verdict line,
# and migrate --no-mark (a device that does not mark its writes) must
# fail, which shows that migrate's own check can.  Prints one PASS/FAIL
# line each and "N passed, N failed"; exit status 0 only if none failed.
#
# usage: examples.sh DIR       environment: TEST_TIMEOUT (seconds, 300)

dir=$1
timeout_s=${TEST_TIMEOUT:-300}
passed=0 failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run NAME WANT_STATUS VERDICT_PATTERN PROGRAM [ARG...]
run() {
	name=$1 want=$2 pattern=$3
	shift 3
	timeout -k 5 "$timeout_s" "$@" > "$out" 2>&1
	status=$?
	last=$(tail -n 1 "$out")
	if { [ "$want" = 0 ] && [ "$status" -eq 0 ]; } ||
	   { [ "$want" = fail ] && [ "$status" -ne 0 ] && [ "$status" -ne 124 ]; }; then
		if grep -qE "$pattern" "$out"; then
			printf 'PASS  %s\n' "$name"
			passed=$((passed + 1))
			return
		fi
	fi
	printf 'FAIL  %s (exit %d, last line: %s)\n' "$name" "$status" "$last"
	sed 's/^/    /' "$out" | tail -n 20
	failed=$((failed + 1))
}

run examples/hold_demo 0 '^hold_demo: [0-9]+ holds' "$dir/hold_demo"
run examples/hotplug 0 '^hotplug: OK$' "$dir/hotplug"
run examples/migrate 0 '^migrate: OK$' "$dir/migrate"
run "examples/migrate --ring" 0 '^migrate: OK$' "$dir/migrate" --ring 65536
run "examples/migrate --no-mark" fail 'FAILED: the copy is not the guest' "$dir/migrate" --no-mark

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
