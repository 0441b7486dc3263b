#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Runs the examples as tests: each must exit 0 and print what shows it
# worked (its verdict line and the figures behind it: no mismatch, no
# access to a hole, no page that differs), and migrate --no-mark (a device
# that does not mark its writes) must fail, which shows that migrate's own
# check can.  Prints one PASS/FAIL line each and "N passed, N failed"; exit
# status 0 only if none failed.
#
# usage: examples.sh DIR       environment: TEST_TIMEOUT (seconds, 300)

dir=$1
timeout_s=${TEST_TIMEOUT:-300}
passed=0 failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run NAME WANT_STATUS PATTERN... -- PROGRAM [ARG...]
# WANT_STATUS is 0 or fail; every PATTERN (grep -E) must match a line of
# the output.
run() {
	name=$1 want=$2
	shift 2
	patterns=
	while [ "$1" != -- ]; do
		patterns="$patterns$1
"
		shift
	done
	shift
	timeout -k 5 "$timeout_s" "$@" > "$out" 2>&1
	status=$?
	last=$(tail -n 1 "$out")
	why="exit $status"
	if { [ "$want" = 0 ] && [ "$status" -eq 0 ]; } ||
	   { [ "$want" = fail ] && [ "$status" -ne 0 ] && [ "$status" -ne 124 ]; }; then
		missing=$(printf '%s' "$patterns" | while IFS= read -r p; do
			grep -qE "$p" "$out" || printf ' "%s"' "$p"
		done)
		if [ -z "$missing" ]; then
			printf 'PASS  %s\n' "$name"
			passed=$((passed + 1))
			return
		fi
		why="$why, no line matching$missing"
	fi
	printf 'FAIL  %s (%s; last line: %s)\n' "$name" "$why" "$last"
	sed 's/^/    /' "$out" | tail -n 20
	failed=$((failed + 1))
}

run examples/hold_demo 0 \
	'^hold_demo: 10 holds, guest frozen during each, resumed after each$' \
	-- "$dir/hold_demo"
run examples/hotplug 0 \
	'^hotplug: guest made [1-9][0-9]* passes: 0 mismatches, 0 accesses to a hole$' \
	'^hotplug: final layout, 2 regions:$' \
	'^hotplug: OK$' \
	-- "$dir/hotplug"
for ring in "" "--ring 65536"; do
	# shellcheck disable=SC2086 # $ring is empty or an option and its value
	run "examples/migrate${ring:+ $ring}" 0 \
		'^migrate: final pass under a hold: [0-9]+ pages; 0 of 512 pages differ$' \
		'0 accesses to a hole; the device [0-9]+ writes \(marked\)$' \
		'^migrate: OK$' \
		-- "$dir/migrate" $ring
done
run "examples/migrate --no-mark" fail \
	' [1-9][0-9]* of 512 pages differ$' \
	'the device [1-9][0-9]* writes \(not marked\)$' \
	'FAILED: the copy is not the guest' \
	-- "$dir/migrate" --no-mark

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
