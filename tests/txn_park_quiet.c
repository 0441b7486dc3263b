// SPDX-License-Identifier: MIT
/*
 * Held commits leave parked vCPU threads asleep.  A VMM that holds its VM
 * and commits many transactions under that hold (a migration's final
 * layout changes, a batch of hotplugs) must not make every parked vCPU
 * thread wake, look and sleep again at each commit: with N vCPUs that is
 * N context switches per commit, on the CPUs the commits need.  The end of
 * a held commit wakes only the holders waiting for it.
 *
 * The test parks both vCPUs of a guest under one hold, waits until both
 * threads sleep in the park's futex, then splits and merges the test slot
 * COMMITS times inside that hold, and counts the vCPU threads' voluntary
 * context switches over the commits (from /proc, as the kernel counts
 * them).  A parked thread may wake on its own: the park rechecks the
 * VMM's immediate_exit every 50 ms, so a few switches are allowed; a
 * wake-up per commit is not.
 *
 * Can fail: KVMHOLD_TEST_BREAK=exclusive-wake makes the end of a held
 * commit wake every parked thread (the old way).
 */
#include <stdio.h>

#include "hold_checks.h"

#define COMMITS 200
#define SLOT    (2ull << 20)

/* voluntary_ctxt_switches of thread tid of this process, from /proc. */
static unsigned long voluntary_switches(int tid)
{
	char path[64], line[128];
	unsigned long n = 0;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "r");
	CHECK(f != NULL, "open %s", path);
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "voluntary_ctxt_switches: %lu", &n) == 1;
	fclose(f);
	CHECK(found, "no voluntary_ctxt_switches in %s", path);
	return n;
}

static void split_and_merge(struct tvm *t, uint64_t gpa)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_split(txn, gpa + SLOT / 2));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_merge(txn, gpa, SLOT));
	CHECK_OK(kvmhold_txn_commit(txn));
}

int main(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_COUNT,
		.test_size = SLOT, .map_test_region = true,
	};
	struct tvm *t;
	unsigned long before[2], woke[2];
	struct kvmhold_stats st;
	unsigned i;

	test_apply_breakage();
	t = start_tvm(&o);
	CHECK_OK(kvmhold_hold(t->vm, 10000));
	for (i = 0; i < 2; i++)
		CHECK(wait_parked_asleep(t, tvm_vcpu_tid(t, i)),
		      "vCPU %u not asleep in the park 5 s after the hold", i);
	for (i = 0; i < 2; i++)
		before[i] = voluntary_switches(tvm_vcpu_tid(t, i));
	for (i = 0; i < COMMITS / 2; i++)
		split_and_merge(t, t->test_gpa);
	for (i = 0; i < 2; i++)
		woke[i] = voluntary_switches(tvm_vcpu_tid(t, i)) - before[i];
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	CHECK(st.txn_held_commits >= COMMITS, "only %llu held commits",
	      (unsigned long long)st.txn_held_commits);
	CHECK_FROZEN(t, 0, 1000);
	CHECK_OK(kvmhold_release(t->vm));
	CHECK_ALL_MOVE(t);
	printf("%u held commits with 2 vCPUs parked: the vCPU threads slept again %lu and %lu times\n",
	       COMMITS, woke[0], woke[1]);
	for (i = 0; i < 2; i++)
		CHECK(woke[i] < COMMITS / 10,
		      "vCPU %u's parked thread woke %lu times over %u held commits", i, woke[i],
		      COMMITS);
	finish_tvm(t);
	return 0;
}
