// SPDX-License-Identifier: MIT
/*
 * The holder stops spinning when spinning does not pay.  On a host whose
 * CPUs are busy, a kicked vCPU thread waits for a CPU before it can leave
 * KVM_RUN, so a holder that spins only burns time the vCPU needs and adds
 * its whole spin to every hold.
 *
 * The test makes that happen for sure: it pins itself (and so every
 * thread it starts) to one CPU, so while the holder spins the vCPU thread
 * cannot run, and every spin runs out.  The library still sees two CPUs
 * online and spins at first; after HOLDS holds, its budget must have
 * fallen to nothing and at most half the holds may have spun in vain
 * (the halving steps, and the periodic probes).  Then HOLDS held commits:
 * each is one stop too, so its stops must get their probes as plain holds
 * do (a held commit also waits for other holders' sections, and when
 * those waits counted towards the probes, every probe fell on them).
 *
 * Can fail: KVMHOLD_TEST_BREAK=adaptive-spin keeps the whole budget, so
 * every hold spins its 30 us out.
 */
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "hold_checks.h"

#define HOLDS       64
#define SPIN_PROBES 16   /* hold.c SPIN_PROBE_EVERY */

int main(void)
{
	struct tvm_opts o = { .nr_vcpus = 1, .program = GUEST_PROG_COUNT,
			      .test_size = 1 << 20, .map_test_region = true,
			      .vm_opts = { .flags = KVMHOLD_VM_ALWAYS_HOLD } };
	struct kvmhold_stats st;
	uint64_t before;
	cpu_set_t one;
	struct tvm *t;
	unsigned i;

	test_apply_breakage();
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		/* The library would not spin at all: nothing to show. */
		printf("one CPU online: the holder never spins; nothing to test\n");
		return 0;
	}
	CPU_ZERO(&one);
	CHECK(sched_getaffinity(0, sizeof(one), &one) == 0, "sched_getaffinity");
	for (i = 0; i < CPU_SETSIZE && !CPU_ISSET(i, &one); i++)
		;
	CPU_ZERO(&one);
	CPU_SET(i, &one);
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0, "sched_setaffinity to CPU %u", i);

	t = start_tvm(&o);
	if (test_kick_kernel(t->vm)) {
		/* KVM's kick takes the vCPUs out: the stop adapts no spin. */
		printf("kernel kick backend: the holder's stops do not spin to adapt; nothing to test\n");
		finish_tvm(t);
		return 0;
	}
	for (i = 0; i < HOLDS; i++) {
		CHECK_OK(kvmhold_hold(t->vm, 20000));
		CHECK_OK(kvmhold_release(t->vm));
		CHECK_ALL_MOVE(t);
	}
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	printf("%u holds of a vCPU sharing the holder's only CPU: %llu spins lost, %llu won, "
	       "budget now %u ns\n", HOLDS, (unsigned long long)st.spins_lost,
	       (unsigned long long)st.spins_won, st.spin_budget_ns);
	CHECK(st.spins_lost <= HOLDS / 2, "%llu of %u holds spun their budget out",
	      (unsigned long long)st.spins_lost, HOLDS);
	/* Only a spin that won (the scheduler preempted the holder) raises it again. */
	CHECK(st.spin_budget_ns == 0 || st.spins_won, "the spin budget is still %u ns",
	      st.spin_budget_ns);

	before = st.spins_won + st.spins_lost;
	for (i = 0; i < HOLDS; i++) {
		struct kvmhold_txn *txn;

		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		if (i % 2 == 0)
			CHECK_OK(kvmhold_txn_unmap(txn, t->test_gpa, 1 << 20));
		else
			CHECK_OK(kvmhold_txn_map(txn, t->test_gpa, 1 << 20, t->test_hva, 0));
		CHECK_OK(kvmhold_txn_commit(txn));
		CHECK_ALL_MOVE(t);
	}
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	printf("%u held commits: %llu of their stops spun (probes)\n", HOLDS,
	       (unsigned long long)(st.spins_won + st.spins_lost - before));
	CHECK(st.spins_won + st.spins_lost - before >= HOLDS / SPIN_PROBES / 2,
	      "%u held commits made %llu probe spins", HOLDS,
	      (unsigned long long)(st.spins_won + st.spins_lost - before));
	finish_tvm(t);
	return 0;
}
