// SPDX-License-Identifier: MIT
/*
 * Concurrent holders: three threads hold and release in a loop while two
 * vCPUs run a guest that exits to the VMM every few hundred loops (so vCPU
 * entries race the holds too).  Every holder sees the guest frozen for as
 * long as it holds, whatever the others do; nobody deadlocks or times out;
 * the counts add up.
 *
 * Can fail: KVMHOLD_TEST_BREAK=entry-check lets vCPUs in under a hold.
 */
#include <pthread.h>

#include "hold_checks.h"

#define HOLDERS 3
#define ROUNDS  1500

static struct tvm *t;

static void *holder(void *arg)
{
	unsigned i;

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		CHECK_OK(kvmhold_hold(t->vm, 10000));
		CHECK_RET(kvmhold_is_held(t->vm), 1);
		CHECK_FROZEN(t, 0, 100);
		CHECK_OK(kvmhold_release(t->vm));
		if (i % 64 == 0)
			CHECK_OK(tvm_wait_all_counters_move(t, 20000));
	}
	return NULL;
}

int main(void)
{
	struct tvm_opts o = { .nr_vcpus = 2, .program = GUEST_PROG_COUNT_SYNC, .sync_every = 300 };
	pthread_t threads[HOLDERS];
	struct kvmhold_stats st;
	uint64_t start;
	unsigned i;

	test_apply_breakage();
	t = start_tvm(&o);
	start = tvm_now_ns();
	for (i = 0; i < HOLDERS; i++)
		CHECK(pthread_create(&threads[i], NULL, holder, NULL) == 0, "pthread_create");
	for (i = 0; i < HOLDERS; i++)
		pthread_join(threads[i], NULL);
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	CHECK(st.holds == HOLDERS * ROUNDS && st.releases == HOLDERS * ROUNDS,
	      "holds %lu releases %lu", (unsigned long)st.holds, (unsigned long)st.releases);
	CHECK(st.hold_timeouts == 0 && st.hold_count == 0, "timeouts %lu, %u still held",
	      (unsigned long)st.hold_timeouts, st.hold_count);
	CHECK_RET(kvmhold_is_held(t->vm), 0);
	CHECK_ALL_MOVE(t);
	printf("%d threads x %d holds in %.2f s (%lu stopped the VM, the rest joined a "
	       "hold in force), guest frozen under every one; %lu VMM exits handled meanwhile\n",
	       HOLDERS, ROUNDS, (tvm_now_ns() - start) / 1e9, (unsigned long)st.kicking_holds,
	       (unsigned long)tvm_syncs(t));
	finish_tvm(t);
	return 0;
}
