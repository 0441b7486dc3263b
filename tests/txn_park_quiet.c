// SPDX-License-Identifier: MIT
/*
 * Held commits leave parked threads asleep.  A VMM that holds its VM and
 * commits many transactions under that hold (a migration's final layout
 * changes, a batch of hotplugs) must not make every parked thread wake,
 * look and sleep again at each commit: with N vCPUs that is N context
 * switches per commit, on the CPUs the commits need.  The end of a held
 * commit wakes only the holders waiting for it.
 *
 * The test parks both vCPUs of a guest and a device thread (in
 * kvmhold_mem_begin()) under one hold, waits until the three threads
 * sleep in the park's futex, then splits and merges the test slot COMMITS
 * times inside that hold, and counts the parked threads' voluntary context
 * switches over the commits (from /proc, as the kernel counts them).
 *
 * The device thread waits for the release without a deadline: it must not
 * wake at all.  A parked vCPU thread wakes on its own, every 50 ms
 * (PARK_RECHECK_NS), to look at the VMM's immediate_exit, so its bound
 * grows with the commits' wall-clock time (a loaded or nested host makes
 * them slow); a wake-up per commit on top of that is still caught.
 *
 * Can fail: KVMHOLD_TEST_BREAK=exclusive-wake makes the end of a held
 * commit wake every parked thread (the old way).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "hold_checks.h"

#define COMMITS 200
#define SLOT    (2ull << 20)
#define RECHECK_NS 50000000ull   /* gate.c PARK_RECHECK_NS */

static struct kvmhold_vm *shared_vm;
static atomic_int mem_tid;
/* A device thread: one section, which parks until the release. */
static void *device(void *arg)
{
	(void)arg;
	atomic_store(&mem_tid, (int)syscall(SYS_gettid));
	CHECK_OK(kvmhold_mem_begin(shared_vm));
	CHECK_OK(kvmhold_mem_end(shared_vm));
	return NULL;
}

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
	int tids[3];
	unsigned long before[3], woke[3], vcpu_bound;
	uint64_t start, took;
	struct kvmhold_stats st;
	pthread_t dev;
	unsigned i;

	test_apply_breakage();
	t = start_tvm(&o);
	shared_vm = t->vm;
	CHECK_OK(kvmhold_hold(t->vm, 10000));
	CHECK(pthread_create(&dev, NULL, device, NULL) == 0, "pthread_create");
	while (!atomic_load(&mem_tid))
		sched_yield();
	tids[0] = tvm_vcpu_tid(t, 0);
	tids[1] = tvm_vcpu_tid(t, 1);
	tids[2] = atomic_load(&mem_tid);
	for (i = 0; i < 3; i++)
		CHECK(wait_parked_asleep(t, tids[i]),
		      "thread %u not asleep in the park 5 s after the hold", i);
	for (i = 0; i < 3; i++)
		before[i] = voluntary_switches(tids[i]);
	start = tvm_now_ns();
	for (i = 0; i < COMMITS / 2; i++)
		split_and_merge(t, t->test_gpa);
	took = tvm_now_ns() - start;
	for (i = 0; i < 3; i++)
		woke[i] = voluntary_switches(tids[i]) - before[i];
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	CHECK(st.txn_held_commits >= COMMITS, "only %llu held commits",
	      (unsigned long long)st.txn_held_commits);
	CHECK_FROZEN(t, 0, 1000);
	CHECK_OK(kvmhold_release(t->vm));
	CHECK(pthread_join(dev, NULL) == 0, "pthread_join");
	CHECK_ALL_MOVE(t);
	/* The rechecks a parked vCPU thread makes on its own, at most, plus a tenth. */
	vcpu_bound = took / RECHECK_NS + 1 + COMMITS / 10;
	printf("%u held commits in %llu ms with 2 vCPUs and a device thread parked: "
	       "they slept again %lu, %lu and %lu times (vCPU bound %lu)\n", COMMITS,
	       (unsigned long long)(took / 1000000), woke[0], woke[1], woke[2], vcpu_bound);
	CHECK(woke[2] <= 1, "the parked device thread woke %lu times over %u held commits",
	      woke[2], COMMITS);
	for (i = 0; i < 2; i++)
		CHECK(woke[i] < vcpu_bound,
		      "vCPU %u's parked thread woke %lu times over %u held commits in %llu ms",
		      i, woke[i], COMMITS, (unsigned long long)(took / 1000000));
	finish_tvm(t);
	return 0;
}
