// SPDX-License-Identifier: MIT
/*
 * How long the guest was stopped: last_stopped_ns and stopped_ns.  A VMM
 * reports them as the guest's downtime from layout changes, so they must
 * cover the whole stop, from the first kick to the release that let the
 * vCPUs run, and nothing else.
 *
 * Each round stops two busy vCPUs, keeps them stopped while the test
 * checks that no guest counter moves (a few ms), adds a second, joined
 * hold and releases both.  The stop lasted at least from the first hold's
 * return to the last release's call, and at most from before the hold to
 * after the release; the first release (the joined hold's) must not end
 * it.  The total is the sum of the rounds.
 *
 * Then a hold that cannot complete (a device thread stays in a mem
 * section) times out: its stop kept the vCPUs parked until its undo, so it
 * counts too, for at least its timeout.
 *
 * Can fail: KVMHOLD_TEST_BREAK=stopped-time makes releases record nothing.
 */
#include <stdio.h>

#include "hold_checks.h"

#define ROUNDS     20
#define TIMEOUT_MS 200

static uint64_t stopped_last(struct tvm *t, uint64_t *total, uint64_t *kicking)
{
	struct kvmhold_stats st;

	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	*total = st.stopped_ns;
	*kicking = st.last_hold_ns;
	return st.last_stopped_ns;
}

/* A hold that times out stopped the guest until its undo: it counts. */
static void timed_out_stop(struct tvm *t)
{
	struct section_thread sec = { .vm = t->vm };
	uint64_t t0, t1, total_before, total, kicking, last;

	stopped_last(t, &total_before, &kicking);
	section_enter(&sec);
	t0 = tvm_now_ns();
	CHECK_RET(kvmhold_hold(t->vm, TIMEOUT_MS), -ETIMEDOUT);
	t1 = tvm_now_ns();
	section_leave(&sec);
	last = stopped_last(t, &total, &kicking);
	CHECK(last >= TIMEOUT_MS * 1000000ull && last <= t1 - t0,
	      "timed-out hold: last_stopped_ns %llu, not within [%llu, %llu]",
	      (unsigned long long)last, TIMEOUT_MS * 1000000ull, (unsigned long long)(t1 - t0));
	CHECK(total - total_before == last, "timed-out hold: stopped_ns grew by %llu, not %llu",
	      (unsigned long long)(total - total_before), (unsigned long long)last);
	CHECK_ALL_MOVE(t);
	printf("a hold timed out after %u ms: stopped %.1f ms\n", TIMEOUT_MS, last / 1e6);
}


int main(void)
{
	struct tvm_opts o = { .nr_vcpus = 2, .program = GUEST_PROG_COUNT };
	uint64_t low_sum = 0, high_sum = 0, total = 0, last;
	struct tvm *t;
	unsigned i;

	test_apply_breakage();
	t = start_tvm(&o);
	for (i = 0; i < ROUNDS; i++) {
		uint64_t t0, held, released, t1, kicking, total_before = total;

		t0 = tvm_now_ns();
		CHECK_OK(kvmhold_hold(t->vm, 20000));
		held = tvm_now_ns();
		CHECK_FROZEN(t, 0, 2000);
		CHECK_OK(kvmhold_hold(t->vm, 20000));        /* joins: no new stop */
		CHECK_OK(kvmhold_release(t->vm));
		CHECK_RET(kvmhold_is_held(t->vm), 1);
		released = tvm_now_ns();
		CHECK_OK(kvmhold_release(t->vm));
		t1 = tvm_now_ns();
		last = stopped_last(t, &total, &kicking);
		/*
		 * The stop began last_hold_ns before the library saw it complete,
		 * which was before the hold returned: the kicks count too.
		 */
		CHECK(last >= released - held + kicking && last <= t1 - t0,
		      "round %u: last_stopped_ns %llu, not within [%llu, %llu]", i,
		      (unsigned long long)last, (unsigned long long)(released - held + kicking),
		      (unsigned long long)(t1 - t0));
		CHECK(total - total_before == last, "round %u: stopped_ns grew by %llu, not %llu",
		      i, (unsigned long long)(total - total_before), (unsigned long long)last);
		low_sum += released - held;
		high_sum += t1 - t0;
		CHECK_ALL_MOVE(t);
	}
	CHECK(total >= low_sum && total <= high_sum, "stopped_ns %llu, not within [%llu, %llu]",
	      (unsigned long long)total, (unsigned long long)low_sum,
	      (unsigned long long)high_sum);
	printf("%u stops of 2 busy vCPUs, each with a joined hold: stopped %.1f ms in all "
	       "(the test saw between %.1f and %.1f ms)\n", ROUNDS, total / 1e6, low_sum / 1e6,
	       high_sum / 1e6);
	timed_out_stop(t);
	finish_tvm(t);
	return 0;
}
