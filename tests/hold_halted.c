// SPDX-License-Identifier: MIT
/*
 * vCPUs waiting inside KVM rather than running: guests halted with
 * interrupts off and an in-kernel irqchip, so KVM_RUN blocks in KVM's own
 * wait until something wakes it.  A hold must still get them out (the
 * signal wakes the blocked vCPU) and must not surface to the run loop.
 *
 * Can fail: KVMHOLD_TEST_BREAK=kick-signal leaves them blocked: the hold
 * times out.
 */
#include "hold_checks.h"

int main(void)
{
	struct tvm_opts o = { .nr_vcpus = 4, .program = GUEST_PROG_HALT, .irqchip = true };
	struct tvm_vcpu_stats vs;
	struct kvmhold_stats st;
	struct tvm *t;
	unsigned i, started;
	uint64_t end;

	test_apply_breakage();
	CHECK_OK(tvm_create(&o, &t));
	CHECK_OK(tvm_start(t));
	/* Wait until every guest has begun (and so is halted in KVM). */
	end = tvm_now_ms() + 20000;
	do {
		for (i = started = 0; i < 4; i++)
			started += __atomic_load_n(&t->shared->vcpu[i].started, __ATOMIC_RELAXED) != 0;
		CHECK(tvm_now_ms() < end, "guests did not start");
	} while (started < 4);

	for (i = 0; i < 20; i++) {
		CHECK_OK(kvmhold_hold(t->vm, 5000));
		CHECK_OK(kvmhold_release(t->vm));
	}
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	CHECK(st.kicking_holds == 20 && st.hold_timeouts == 0, "stops %lu timeouts %lu",
	      (unsigned long)st.kicking_holds, (unsigned long)st.hold_timeouts);
	tvm_stats(t, &vs);
	CHECK(vs.hlt == 0, "%lu HLT exits: the guests were not halted inside KVM",
	      (unsigned long)vs.hlt);
	printf("4 vCPUs halted inside KVM: 20 holds, each stopped them (%lu signals), "
	       "%lu -EINTR returned to the VMM\n", (unsigned long)st.signals_sent,
	       (unsigned long)vs.eintr);
	CHECK(vs.eintr == 0, "holds surfaced to the run loop as -EINTR");
	finish_tvm(t);
	return 0;
}
