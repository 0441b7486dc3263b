#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Runs the test programs in DIR (all of them, or the NAMEs given), each with
# a time limit, and ends with "N passed, N failed".  Exit status 0 only if
# none failed.  A test exits 0 (pass), 1 (fail) or 77 (skip: a capability
# this KVM lacks).  Without a usable /dev/kvm the run fails: a suite that
# skipped every KVM test would prove nothing.
#
# usage: run.sh DIR [NAME...]     environment: TEST_TIMEOUT (seconds, 300)

dir=$1
shift
timeout_s=${TEST_TIMEOUT:-300}

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "FAIL: /dev/kvm is missing or not accessible; the tests need a real KVM" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

if [ $# -eq 0 ]; then
	set --
	for t in "$dir"/*; do
		[ -f "$t" ] && [ -x "$t" ] && set -- "$@" "$(basename "$t")"
	done
fi

# Seconds with a fraction; busybox's date (the nested lane's guest) has no %N.
now() {
	t=$(date +%s.%N)
	case $t in *N*) read -r t _ < /proc/uptime ;; esac
	echo "$t"
}

passed=0 failed=0 skipped=0 failed_names=
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for name in "$@"; do
	start=$(now)
	timeout -k 10 "$timeout_s" "$dir/$name" > "$log" 2>&1
	rc=$?
	secs=$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')
	case $rc in
	0)  passed=$((passed + 1)); printf 'PASS  %-28s %6.1fs\n' "$name" "$secs" ;;
	77) skipped=$((skipped + 1)); printf 'SKIP  %-28s %s\n' "$name" "$(tail -n 1 "$log")" ;;
	*)  failed=$((failed + 1)); failed_names="$failed_names $name"
	    # GNU timeout exits 124; busybox's passes on the killed test's 143/137.
	    if [ $rc -eq 124 ] || { [ $rc -gt 128 ] &&
	       awk -v s="$secs" -v t="$timeout_s" 'BEGIN { exit !(s >= t) }'; }; then
		echo "(timed out after ${timeout_s}s)" >> "$log"
	    fi
	    printf 'FAIL  %-28s %6.1fs (exit %d)\n' "$name" "$secs" "$rc"
	    sed 's/^/    | /' "$log" | tail -n 40 ;;
	esac
done

[ $skipped -gt 0 ] && echo "$skipped skipped"
[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
