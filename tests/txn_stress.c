// SPDX-License-Identifier: MIT
/*
 * No hole, ever: two vCPUs walk a 256 KiB region page by page, writing a
 * pattern and checking the previous pass's pattern is still there, while
 * the host commits thousands of random transactions over that region:
 * split, merge, grow, shrink, move, dirty logging on and off.  Every page
 * stays mapped to the same host memory throughout, so the guest must see
 * no MMIO exit inside the region and no lost or wrong data.
 *
 * Then the same with the commits' holds switched off (test-only switch):
 * the guest must now see holes, which proves the test can fail.
 */
#include "hold_checks.h"
#include "layout_ops.h"

#define REGION (256 * 1024)

struct result {
	unsigned commits, held, ioctls;
	uint64_t holes, mismatches, passes;
	double secs;
};

static struct result run(unsigned commits, bool break_holds, uint64_t seed)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_WALK, .test_size = REGION,
		.map_test_region = true, .walk_flags = TVM_WALK_NO_ASSERT, .quiet = true,
	};
	struct kvmhold_stats st;
	struct layout l;
	struct result res = { 0 };
	struct tvm *t;
	uint64_t start;
	unsigned i;

	__atomic_store_n(&kvmhold_test_breakage, break_holds ? BREAK_TXN_HOLD : 0, __ATOMIC_RELAXED);
	t = start_tvm(&o);
	l = (struct layout){
		.vm = t->vm, .gpa = t->test_gpa, .size = REGION,
		.alias_gpa = t->test_gpa + 0x20000000, .rng = seed,
	};
	start = tvm_now_ns();
	for (i = 0; i < commits; i++) {
		struct kvmhold_txn *txn;
		int ops = 1 + (int)layout_rand(&l, 3), added = 0;

		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		while (ops-- > 0)
			added += layout_add_op(&l, txn, (enum layout_op)layout_rand(&l, LOP_KINDS));
		CHECK_OK(kvmhold_txn_commit(txn));
		res.commits += added > 0;
	}
	res.secs = (tvm_now_ns() - start) / 1e9;
	/* Let each vCPU finish a pass over the final layout. */
	CHECK_OK(tvm_wait_counter_moves(t, 0, 20000));
	CHECK_OK(tvm_wait_counter_moves(t, 1, 20000));
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	res.held = (unsigned)st.txn_held_commits;
	res.ioctls = (unsigned)st.txn_ioctls;
	res.holes = tvm_holes(t);
	res.mismatches = tvm_walk_mismatches(t, 0) + tvm_walk_mismatches(t, 1);
	res.passes = tvm_counter(t, 0) + tvm_counter(t, 1);
	layout_read(&l, NULL);
	printf("%s: %u transactions (%u under a hold, %u ioctls) in %.2f s; final layout "
	       "%d slots; guest: %lu passes, %lu hole exits, %lu bad pages\n",
	       break_holds ? "holds off" : "kvmhold  ", res.commits, res.held, res.ioctls,
	       res.secs, l.n, (unsigned long)res.passes, (unsigned long)res.holes,
	       (unsigned long)res.mismatches);
	CHECK_OK(tvm_stop(t));
	CHECK(tvm_failures(t) == 0 || break_holds, "failures: %s", tvm_failure_msg(t, 0));
	tvm_destroy(t);
	__atomic_store_n(&kvmhold_test_breakage, 0, __ATOMIC_RELAXED);
	return res;
}

int main(void)
{
	struct result good, bad;

	test_apply_breakage();   /* KVMHOLD_TEST_BREAK=txn-hold fails the first run too */
	good = run(2000, kvmhold_test_breakage & BREAK_TXN_HOLD, 1);
	CHECK(good.holes == 0 && good.mismatches == 0,
	      "the guest saw %lu holes and %lu bad pages", (unsigned long)good.holes,
	      (unsigned long)good.mismatches);
	CHECK(good.passes > 0, "the guest made no progress");

	bad = run(1000, true, 2);
	CHECK(bad.holes > 0, "without holds the guest saw no hole: this test could not fail");
	return 0;
}
