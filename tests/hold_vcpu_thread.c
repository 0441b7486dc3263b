// SPDX-License-Identifier: MIT
/*
 * A hold taken on a vCPU thread, inside its exit handling: that vCPU is
 * already out, so the hold must not wait for it (no deadlock), and the
 * other vCPUs must be stopped.  Meanwhile the main thread holds too, so
 * vCPU-thread holds race ordinary ones.
 *
 * Can fail: KVMHOLD_TEST_BREAK=entry-check lets the other vCPU run.
 */
#include <stdatomic.h>

#include "hold_checks.h"

static atomic_uint vcpu_holds;

/* On vCPU 0's thread, at each SYNC exit. */
static void on_sync(struct tvm *t, unsigned idx, uint64_t arg, void *cookie)
{
	(void)arg;
	(void)cookie;
	if (idx != 0)
		return;
	CHECK_OK(kvmhold_hold(t->vm, 10000));
	/* vCPU 1 is stopped; vCPU 0 is us, in exit handling. */
	CHECK_FROZEN(t, 1, 1000);
	CHECK_RET(kvmhold_vcpu_run(tvm_vcpu(t, 0)), -EDEADLK);  /* holder cannot run */
	CHECK_OK(kvmhold_release(t->vm));
	atomic_fetch_add(&vcpu_holds, 1);
}

int main(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_COUNT_SYNC, .sync_every = 500,
		.on_sync = on_sync,
	};
	struct tvm *t;
	unsigned main_holds = 0;
	uint64_t end;

	test_apply_breakage();
	t = start_tvm(&o);
	end = tvm_now_ns() + 3000000000ull;
	while (atomic_load(&vcpu_holds) < 200 && tvm_now_ns() < end) {
		CHECK_OK(kvmhold_hold(t->vm, 10000));
		CHECK_FROZEN(t, 0, 2000);
		CHECK_OK(kvmhold_release(t->vm));
		main_holds++;
		/* Let the guests run (and vCPU 0 reach its next exit) in between. */
		tvm_wait_counter_moves(t, 0, 1000);
		tvm_wait_counter_moves(t, 1, 1000);
	}
	CHECK(atomic_load(&vcpu_holds) >= 20, "only %u holds from the vCPU thread",
	      atomic_load(&vcpu_holds));
	printf("%u holds from vCPU 0's thread while it handled exits, %u from the main "
	       "thread: no deadlock, vCPU 1 frozen each time\n", atomic_load(&vcpu_holds),
	       main_holds);
	finish_tvm(t);
	return 0;
}
