#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The kvmtool lane's verdict, on the host, from the nested guest's serial
# console (nested/kvmtool-runs.sh's lines; lkvm's output prefixed "  l2| ").
# One line per run:
#
#   PASS  kvmtool/NAME  txns=N holds=N ... rounds=N     (and the pause figures)
#   FAIL  kvmtool/NAME  <why>; ...
#
# A run expected to pass (reshape, plain) fails on: no "done" line (the
# outer guest stopped), lkvm killed at its time limit (a stall), a non-zero
# lkvm exit status, an lkvm "Error:"/"Fatal:" line, an L2 kernel line with
# panic/BUG/Oops/WARNING/Call Trace/lockup/stall/general protection, no
# "kvmhold-guest: VERDICT PASS" line, any hole, mismatch, vCPU error,
# migration or pause error, a failed reshape transaction, an lkvm
# "kvmhold-lkvm: ... failed/error" line or "result=" other than ok, and
# (tolerantly: only for the options the run gave)
# a missing "kvmhold-lkvm:" reshape, holes, migrate or pause line, no
# transaction at all or no page compared.
# A proof run fails if it does not show what its break must cause:
#   damage (break-txn-hold): a hole, a vCPU error other than a triple
#     fault (a KVM internal error), VERDICT FAIL, or an L2 kernel
#     panic/BUG/Oops line, or a triple fault within 10 s of lkvm's
#     start (the setup's own come 40 s in and later); a later triple
#     fault or a run killed at its time limit proves nothing;
#   mismatch (break-dirty-mark): mismatches>0.
# A boot (KVMTOOL_BOOTS) passes with VERDICT PASS, lkvm exit 0 and a clean
# L2 kernel log; the summary counts the stalls (lkvm killed at the limit).
# Each RUN named on the command line and never begun fails too.
#
# A failed run whose only cause is the outer guest gone, or a triple fault
# in a run that had re-created memslots or synced the dirty log (pristine
# kvmtool shows those in this setup too), with lkvm's closing lines all
# there and none of the library's signs, is also listed as a setup failure
# (see the END block).  So is a run that must pass and was killed at its
# time limit before the guest's VERDICT while lkvm's watch lines show the
# library live to the end (holds stopping the VM and released, checkpoints
# made, KVM running every vCPU again and again, no park without a hold),
# again with no other sign: the guest went nowhere on its own.  The l2-rip
# lines say where it was.
#
# usage: nested/kvmtool-verdict.sh CONSOLE [RUN...]
# Exit status 0 if all passed, 3 if every failure was a setup failure
# (the last line names them), else 1.

set -u

[ $# -ge 1 ] || { echo "usage: $0 CONSOLE [RUN...]" >&2; exit 2; }
console=$1
shift

awk -v expected="$*" '
function field(line, key,   m) {
	if (!match(line, "(^| )" key "=[^ ]*"))
		return ""
	m = substr(line, RSTART, RLENGTH)
	sub(/^ /, "", m)
	sub(/^[^=]*=/, "", m)
	return m
}
function num(v) { return v == "" ? -1 : v + 0 }
function damaged_early(r) { return shutdown[r] && errt[r] != "" && errt[r] + 0 <= 10 }
function add(r, what) { why[r] = why[r] (why[r] == "" ? "" : "; ") what }
function median(list,   a, k, i, j, t) {
	k = split(list, a, " ")
	if (!k) return "-"
	for (i = 2; i <= k; i++) {
		t = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	return sprintf("%s/%s/%s", a[1], a[int((k + 1) / 2)], a[k])
}
BEGIN {
	# The kernel'"'"'s own complaints, and its decompressor'"'"'s ("XZ-compressed
	# data is corrupt", "-- System halted": the guest stops, lkvm stays).
	bad = "Kernel panic|BUG:|Oops|general protection|WARNING:|Call Trace|soft lockup|hard LOCKUP|rcu.*stall|invalid opcode|data is corrupt|System halted"
}
/^kvmhold-nested: begin kvmtool\// {
	run = substr($3, 9)
	# Each name is judged once: a second run under the same name would
	# overwrite the first one'"'"'s figures (kvmtool-runs.sh numbers repeats).
	if (run in begun) { dup[run] = 1; next }
	order[++n] = run; inrun = 1; begun[run] = 1; next
}
!inrun { next }
/^kvmhold-nested: expect kvmtool\// { expect[run] = $4; next }
/^kvmhold-nested: lkvm kvmtool\// { opts[run] = $0; next }
/^kvmhold-nested: l2-init kvmtool\// { init[run] = $4; sub(/s$/, "", init[run]); next }
/^kvmhold-nested: TIMEOUT kvmtool\// { timedout[run] = 1; next }
/^kvmhold-nested: l2-rip kvmtool\// {
	sym = $5
	for (f = 6; f <= NF; f++) sym = sym " " $f
	rips[run] = rips[run] (rips[run] == "" ? "" : ", ") sym
	next
}
/^kvmhold-nested: done kvmtool\// {
	done[run] = 1; rc[run] = field($0, "rc"); secs[run] = field($0, "secs"); inrun = 0; next
}
/^  l2\| / {
	l = substr($0, 7)
	if (l ~ /^kvmhold-guest: VERDICT /) { verdict[run] = substr(l, 24); next }
	if (l ~ /^kvmhold-lkvm: reshape txns=/) {
		reshape[run] = 1; txns[run] = field(l, "txns"); holds[run] = field(l, "holds")
		rfailed[run] = field(l, "failed"); next
	}
	if (l ~ /^kvmhold-lkvm: migrate checkpoints=/) {
		migrate[run] = 1; ckpts[run] = field(l, "checkpoints")
		compared[run] = field(l, "pages_compared"); verified[run] = field(l, "pages_verified")
		mism[run] = field(l, "mismatches"); mrounds[run] = field(l, "rounds")
		merr[run] = field(l, "errors"); next
	}
	# The watch, every 10 s from a thread that never holds (see END).
	if (l ~ /^kvmhold-lkvm: watch t=/) {
		k = ++nw[run]
		wt[run, k] = field(l, "t"); wrel[run, k] = field(l, "releases")
		wkick[run, k] = field(l, "kicking_holds"); whc[run, k] = field(l, "hold_count")
		wst[run, k] = field(l, "stopping"); wto[run, k] = field(l, "hold_timeouts")
		wgerr[run, k] = field(l, "gate_errors"); wtxn[run] = field(l, "txn_commits")
		wck[run, k] = field(l, "checkpoints"); wkx[run, k] = field(l, "kvm_exits")
		# Parked with no hold in force or coming, 10 s apart: a park
		# that nothing will end.
		if (num(field(l, "parked_now")) > 0 && num(whc[run, k]) == 0 && num(field(l, "stopping")) == 0) {
			if (parked[run]) stuckpark[run] = 1
			parked[run] = 1
		} else parked[run] = 0
		next
	}
	# KVM_EXIT_SHUTDOWN (8): the L2 guest triple-faulted.  lkvm then
	# prints its last memslot commits and dirty-log calls ("event").
	if (l ~ /^kvmhold-lkvm: vcpu error #[0-9]+: (vcpu [0-9]+ )?exit reason 8$/) { shutdown[run]++; if (!lerr[run]++) lerr1[run] = l; next }
	# Any other vCPU error (a KVM internal error: an instruction KVM could
	# not emulate, such as one fetched from a hole) is the library'"'"'s sign.
	if (l ~ /^kvmhold-lkvm: vcpu error #/) {
		vcpuerr[run] = 1; liberr[run] = 1
		if (!lerr[run]++) lerr1[run] = l
		next
	}
	# Holes and mismatches as lkvm finds them: a run cut short before its
	# summary lines still shows them.
	if (l ~ /^kvmhold-lkvm: hole #/) { holeseen[run] = 1; next }
	if (l ~ /^kvmhold-lkvm: migrate mismatch at/) { mmseen[run] = 1; next }
	if (l ~ /^kvmhold-lkvm: checkpoint n=/) {
		if (num(field(l, "mismatches")) > 0) mmseen[run] = 1
		next
	}
	if (l ~ /^kvmhold-lkvm: library /) {
		libline[run] = 1
		if (num(field(l, "hold_timeouts")) > 0 || num(field(l, "txn_rollbacks")) > 0) libctr[run] = 1
		next
	}
	# After the first vCPU error: the time since lkvm started.
	if (l ~ /^kvmhold-lkvm: last [0-9]+ of [0-9]+ events, now t=/) {
		if (errt[run] == "") { errt[run] = field(l, "t"); sub(/s:?$/, "", errt[run]) }
		next
	}
	if (l ~ /^kvmhold-lkvm: event t=/) next
	if (l ~ /^kvmhold-lkvm: holes=/) { holes[run] = field(l, "holes"); verr[run] = field(l, "vcpu_errors"); next }
	if (l ~ /^kvmhold-lkvm: pause .*p50=/) { pause[run] = substr(l, 21); perr[run] = field(l, "errors"); next }
	if (l ~ /^kvmhold-lkvm: result=/) { result[run] = field(l, "result"); next }
	if (l ~ /^kvmhold-lkvm: start /) { started[run] = 1; brk[run] = field(l, "break"); next }
	if (l ~ /^kvmhold-lkvm: .*(failed|error)/) { liberr[run] = 1; if (!lerr[run]++) lerr1[run] = l; next }
	if (l ~ /^kvmhold-guest: checker [0-9]+ ERROR/) { if (!cherr[run]++) cherr1[run] = substr(l, 16); next }
	if (l ~ /^kvmhold-guest: /) next
	if (l ~ /^ *(Error|Fatal): /) { liberr[run] = 1; if (!lerr[run]++) lerr1[run] = l; next }
	if (l ~ bad) { if (!kbad[run]++) kbad1[run] = l; next }
}
END {
	for (i = 1; i <= n; i++) {
		r = order[i]; e = expect[r]; o = opts[r]
		v = verdict[r]; vpass = v ~ /^PASS /; vfail = v ~ /^FAIL/
		h = num(holes[r]); m = num(mism[r])
		counts = sprintf("txns=%s holds=%s reshape_failed=%s checkpoints=%s pages_compared=%s pages_verified=%s mismatches=%s holes=%s rounds=%s l2_init=%ss lkvm=%ss rc=%s",
			txns[r] == "" ? "-" : txns[r], holds[r] == "" ? "-" : holds[r],
			rfailed[r] == "" ? "-" : rfailed[r], ckpts[r] == "" ? "-" : ckpts[r],
			compared[r] == "" ? "-" : compared[r], verified[r] == "" ? "-" : verified[r],
			mism[r] == "" ? "-" : mism[r],
			holes[r] == "" ? "-" : holes[r], v == "" ? "-" : (field(v, "rounds") == "" ? "-" : field(v, "rounds")),
			init[r] == "" ? "-" : init[r], secs[r] == "" ? "-" : secs[r], rc[r] == "" ? "-" : rc[r])
		if (e == "boot")
			counts = sprintf("%s l2_init=%ss lkvm=%ss rc=%s", v ~ /^PASS / ? substr(v, 6) : "-",
				init[r] == "" ? "-" : init[r], secs[r] == "" ? "-" : secs[r], rc[r] == "" ? "-" : rc[r])
		# A proof run counts only if lkvm started with the break asked for
		# (an lkvm that lacks the option, or dies at once, proves nothing),
		# and its damage is one the checks see: a hole, a vCPU error other
		# than a triple fault (the nested setup triple-faults by itself), a
		# failed verdict, an L2 kernel error.  Or a triple fault within
		# the first 10 s of lkvm (after an unheld commit: a proof whose
		# break never committed fails below): the setup'"'"'s own
		# faults come under load, 40 s in and later (50-128 s in every
		# run of the port and the controls on record, docs/results.md),
		# while a commit that unmaps the early-boot kernel under a running
		# vCPU faults it at once (0.3 and 0.5 s in, traced: a page fault
		# reinjected, then the shutdown, at a physical RIP).
		early = damaged_early(r)
		damaged = started[r] && brk[r] != "" && brk[r] != "none" &&
			(h > 0 || holeseen[r] || vcpuerr[r] || vfail || kbad[r] || (e == "damage" && early))
		if (dup[r]) add(r, "began twice under this name (figures would mix)")
		# A run killed at its time limit: did the library keep the guest
		# stopped (a hold that never ended or never finished stopping, a
		# park nothing ends, a vCPU KVM no longer runs), or did holds come
		# and go while KVM ran every vCPU and the guest went nowhere?  Over
		# the last minute of watch lines, which must reach to within 30 s
		# of the kill (the fields: see the watch thread of the port):
		# - in every 20 s, holds that stopped the VM and releases (so no
		#   hold stayed in force under the later ones), and checkpoints
		#   with the migration check;
		# - no hold in force on some line, and none stopping on the last
		#   (one begun in the last 20 s would pass the rule above);
		# - in every 10 s, each vCPU'"'"'s KVM exits (with signal exits)
		#   grew: KVM entered it again, halted or not;
		# - no park without a hold in two lines running, no hold timeout,
		#   no gated ioctl that failed;
		# - no VERDICT: a guest that finished and then hung is a VM that
		#   did not end (a kick lost at exit, say).
		# It errs towards the library: a checkpoint held 10 s or more
		# under TCG leaves the exit counts flat for a line, and then the
		# stall fails the lane as before.
		stuckguest = "the guest went nowhere while holds came and went and KVM ran its vCPUs"
		live = 0; k = nw[r]; j = k - 6
		if (j < 1) j = 1	# (then k < 7: not live)
		if (timedout[r] && k >= 7 && num(wt[r, k]) >= num(secs[r]) - 30 && v == "") {
			live = !stuckpark[r] && num(wst[r, k]) == 0 &&
				num(wto[r, k]) == 0 && num(wgerr[r, k]) == 0
			free = 0
			for (q = j; q <= k; q++) if (num(whc[r, q]) == 0) free = 1
			live = live && free
			for (q = j + 2; q <= k; q++)
				if (num(wkick[r, q]) <= num(wkick[r, q - 2]) || num(wrel[r, q]) <= num(wrel[r, q - 2]) ||
				    (o ~ /--kvmhold-migrate-check/ && num(wck[r, q]) <= num(wck[r, q - 2])))
					live = 0
			for (q = j + 1; q <= k; q++) {
				na = split(wkx[r, q - 1], xa, ","); nb = split(wkx[r, q], xb, ",")
				if (!nb || na != nb) live = 0
				for (x = 1; x <= nb; x++)
					if (xb[x] + 0 <= xa[x] + 0) live = 0	# -1 (no stats) never grows
			}
		}
		if (!done[r]) add(r, "never finished (the outer guest stopped)")
		else if (timedout[r] && !(e == "damage" && damaged))
			add(r, "lkvm killed at its time limit (" (live ? stuckguest : "a stall or a hang") ")")
		if (e == "pass" || e == "boot") {
			if (done[r] && !timedout[r] && rc[r] != 0) add(r, "lkvm exit status " rc[r])
			if (lerr[r]) add(r, "lkvm: " lerr1[r])
			if (kbad[r]) add(r, "L2 kernel: " kbad1[r])
			if (cherr[r]) add(r, "checker: " cherr1[r])
			if (v == "") add(r, "no VERDICT from the L2 guest")
			else if (!vpass) add(r, "L2 guest: VERDICT " v)
			else if (num(field(v, "blk_ios")) <= 0) add(r, "the L2 checker did no disk I/O")
			else if (num(field(v, "pages_verified")) <= 0) add(r, "the L2 checker verified no page")
			if (h > 0) add(r, "holes=" h)
			if (m > 0) add(r, "mismatches=" m)
			if (shutdown[r]) add(r, "the L2 guest triple-faulted (KVM_EXIT_SHUTDOWN)")
			if (num(verr[r]) > 0) add(r, "vcpu_errors=" verr[r])
			if (num(merr[r]) > 0) add(r, "migrate errors=" merr[r])
			if (num(perr[r]) > 0) add(r, "pause errors=" perr[r])
			if (result[r] != "" && result[r] != "ok") add(r, "lkvm result=" result[r])
			if (o ~ /--kvmhold-reshape/) {
				if (!reshape[r]) add(r, "no kvmhold-lkvm reshape line")
				else if (num(rfailed[r]) != 0) add(r, "reshape failed=" rfailed[r])
				else if (num(txns[r]) <= 0) add(r, "no reshape transaction")
				if (holes[r] == "") add(r, "no kvmhold-lkvm holes line")
			}
			if (o ~ /--kvmhold-migrate-check/) {
				if (!migrate[r]) add(r, "no kvmhold-lkvm migrate line")
				else if (num(ckpts[r]) <= 0) add(r, "no migration checkpoint")
				else if (num(compared[r]) <= 0) add(r, "no page compared")
				else if (num(verified[r]) <= 0) add(r, "no page verified (every compared page was copied under the checkpoint hold)")
			}
			if (o ~ /--kvmhold-pause-bench/ && pause[r] == "") add(r, "no kvmhold-lkvm pause line")
		} else if (e == "damage") {
			if (!started[r] || brk[r] == "" || brk[r] == "none")
				add(r, "lkvm did not start with the break (no kvmhold-lkvm start line with break=)")
			if (h > 0 || holeseen[r]) info[r] = "holes=" (h > 0 ? h : "seen")
			else if (vcpuerr[r]) info[r] = lerr1[r]
			else if (early) info[r] = "a triple fault " errt[r] " s after lkvm started, after an unheld commit"
			else if (vfail) info[r] = "L2 guest: VERDICT " v
			else if (kbad[r]) info[r] = "L2: " kbad1[r]
			if (!damaged)
				add(r, "the break did no damage (holes=" (h < 0 ? "-" : h) ", VERDICT " (v == "" ? "-" : v) ")")
			# Damage before the first unheld commit was not the break'"'"'s.
			# (A run cut short has no summary: its watch lines count.)
			if (o ~ /--kvmhold-reshape/ && num(txns[r]) <= 0 && num(wtxn[r]) <= 0)
				add(r, "the break never acted (no reshape transaction committed)")
		} else if (e == "mismatch") {
			if (!started[r] || brk[r] == "" || brk[r] == "none")
				add(r, "lkvm did not start with the break (no kvmhold-lkvm start line with break=)")
			if (!migrate[r]) add(r, "no kvmhold-lkvm migrate line")
			else if (m <= 0) add(r, "the break gave no mismatch (mismatches=" mism[r] ")")
		} else add(r, "unknown expectation \"" e "\"")
		# A setup failure: the outer guest gone (the library runs as a
		# program inside it: a hung outer kernel is not its doing), or a
		# triple fault under a load that the controls (pristine kvmtool,
		# its own pause, no kvmhold code; docs/results.md) make fault in
		# this setup too: memslot re-creation (a reshape run that committed
		# a transaction) or dirty-log syncs (a migration-checked run that
		# synced at least once).  Only with the closing lines of lkvm all
		# there (holes, library, and those of the migration check, whose
		# last checkpoint runs after the fault and would show a lost page),
		# and with none of the library signs: no hole or mismatch (also as
		# they were found), no checker, lkvm or other vCPU error, no failed
		# or rolled-back commit or hold timeout, no L2 kernel complaint, no
		# time limit reached unless the watch shows the library live (a
		# stall can be a hold that never ends).
		# nested/kvmtool-lane.sh runs those again.
		controlled = (o ~ /--kvmhold-reshape/ && num(txns[r]) > 0) ||
			(o ~ /--kvmhold-migrate-check/ && num(mrounds[r]) > 0)
		summed = holes[r] != "" && libline[r] &&
			(o !~ /--kvmhold-migrate-check/ || migrate[r])
		setup = !done[r] ||
			(shutdown[r] && controlled && summed && !(e == "damage" && damaged)) ||
			(timedout[r] && live && !shutdown[r] && e == "pass")
		# lkvm killed by a signal of its own (a crash), or more vCPU errors
		# than the triple faults it printed, is the library'"'"'s too.
		lib = dup[r] || (timedout[r] && !live) || (done[r] && num(rc[r]) > 128 && !timedout[r]) ||
			num(verr[r]) > shutdown[r] + 0
		if (e == "damage" || e == "mismatch")
			lib = lib || !started[r] || brk[r] == "" || brk[r] == "none"
		else
			lib = lib || h > 0 || holeseen[r] || m > 0 || mmseen[r] || cherr[r] || vfail ||
				liberr[r] || kbad[r] || libctr[r] || num(rfailed[r]) > 0 ||
				num(merr[r]) > 0 || num(perr[r]) > 0
		if (why[r] == "") { printf "PASS  kvmtool/%-17s %s\n", r, counts; pass++ }
		else { printf "FAIL  kvmtool/%-17s %s\n        %s\n", r, why[r], counts; fail++ }
		if (why[r] != "" && setup && !lib) {
			printf "        a setup failure: no sign of the library'"'"'s\n"
			setups = setups " " r
		}
		if (rips[r] != "") printf "        L2 RIPs (a vCPU stopped on an error; after a timeout, the last checkpoints): %s\n", rips[r]
		if (pause[r] != "") printf "        pause: %s\n", pause[r]
		if (e == "damage" || e == "mismatch")
			printf "        proof: %s%s\n", why[r] == "" ? "the break was caught" : "NOT caught",
				info[r] == "" ? "" : " (" info[r] ")"
		if (e == "boot") {
			boots++
			if (shutdown[r]) shutdowns++
			if (timedout[r]) stalls++
			else if (why[r] != "") others++
			if (init[r] != "") inits = inits " " init[r]
			if (secs[r] != "" && !timedout[r]) runs = runs " " secs[r]
		}
		if (v ~ /rounds=/) rounds[r] = field(v, "rounds") " rounds, " field(v, "pages_verified") " pages verified"
	}
	k = split(expected, ex, " ")
	for (i = 1; i <= k; i++) {
		# The names kvmtool-runs.sh gives a run asked for twice.
		name = ex[i]; j = 2
		while (name in asked) name = ex[i] "-" j++
		asked[name] = 1
		if (!(name in begun)) {
			printf "FAIL  kvmtool/%-17s never began (the outer guest stopped before)\n", name
			fail++
			setups = setups " " name
		}
	}
	if ("reshape" in rounds && "plain" in rounds)
		printf "kvmtool: the L2 checkers did %s with reshaping, %s without\n", rounds["reshape"], rounds["plain"]
	if (boots)
		printf "kvmtool: %d boots: %d passed, %d stalled (lkvm killed at its limit), %d failed otherwise; %d triple faults (KVM_EXIT_SHUTDOWN) among the failures; L2 init after %ss, lkvm runs %ss (min/median/max)\n",
			boots, boots - stalls - others, stalls, others, shutdowns, median(inits), median(runs)
	printf "kvmtool: %d passed, %d failed\n", pass, fail
	if (setups != "")
		printf "kvmtool: setup failures:%s\n", setups
	if (!fail)
		exit 0
	exit split(setups, s, " ") == fail ? 3 : 1
}' "$console"
