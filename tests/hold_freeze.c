// SPDX-License-Identifier: MIT
/*
 * Holds with 1, 2, 8 and 64 vCPUs busy in the guest: after each hold no
 * vCPU is inside KVM and no guest counter moves until the release; after
 * the release every counter moves again.
 *
 * Can fail: KVMHOLD_TEST_BREAK=entry-check lets vCPUs re-enter under the
 * hold, and their counters move.
 */
#include "hold_checks.h"

static void freeze_rounds(unsigned nr_vcpus, unsigned rounds)
{
	struct tvm_opts o = { .nr_vcpus = nr_vcpus, .program = GUEST_PROG_COUNT };
	struct kvmhold_stats st;
	struct tvm *t = start_tvm(&o);
	uint64_t worst_ns = 0;
	unsigned i;

	for (i = 0; i < rounds; i++) {
		uint64_t t0 = tvm_now_ns(), took;

		CHECK_OK(kvmhold_hold(t->vm, 20000));
		took = tvm_now_ns() - t0;
		if (took > worst_ns)
			worst_ns = took;
		CHECK_RET(kvmhold_is_held(t->vm), 1);
		CHECK_FROZEN(t, 0, 5000);
		CHECK_OK(kvmhold_release(t->vm));
		CHECK_ALL_MOVE(t);
	}
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	CHECK(st.holds == rounds && st.releases == rounds && st.hold_timeouts == 0,
	      "holds %lu releases %lu timeouts %lu", (unsigned long)st.holds,
	      (unsigned long)st.releases, (unsigned long)st.hold_timeouts);
	printf("%2u vCPUs: %u holds, counters frozen 5 ms each, all resumed; "
	       "slowest hold %.0f us, %lu kick signals (%s backend)\n", nr_vcpus, rounds,
	       worst_ns / 1e3, (unsigned long)st.signals_sent,
	       test_kick_kernel(t->vm) ? "kernel" : "signal");
	finish_tvm(t);
}

int main(void)
{
	test_apply_breakage();
	freeze_rounds(1, 50);
	freeze_rounds(2, 50);
	freeze_rounds(8, 20);
	freeze_rounds(64, 5);
	return 0;
}
