// SPDX-License-Identifier: MIT
/*
 * A commit that fails shows the guest nothing, also one that needed no
 * hold for the layout it asked for.  Each transaction maps the test region
 * (host memory kept zero) and a second range KVM refuses (gpa 2^60, past
 * any physical address width): the first slot is created, the second ioctl
 * fails, the first is deleted again.  Two vCPUs walk the test region,
 * writing their pattern into every page; while it is unmapped their
 * accesses are holes.  Had a vCPU run while the failed commit's slot
 * existed, its pattern would be in the host memory afterwards.
 *
 * Can fail: KVMHOLD_TEST_BREAK=txn-fail-hold applies such plans without a
 * hold, and the walkers write into the slot before it is undone.
 */
#include "hold_checks.h"

#define PAGES   16
#define ROUNDS  300

int main(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_WALK, .test_size = PAGES * 4096,
		.walk_flags = TVM_WALK_NO_ASSERT, .quiet = true,
	};
	const unsigned char *mem;
	struct kvmhold_txn *txn;
	struct kvmhold_stats st;
	uint64_t holes_before, end;
	size_t i, dirty = 0;
	unsigned r;
	struct tvm *t;

	test_apply_breakage();
	t = start_tvm(&o);
	mem = t->test_hva;
	holes_before = tvm_holes(t);
	/*
	 * At least ROUNDS commits, and on until the walkers have run into the
	 * unmapped region meanwhile (a loaded host may not schedule them at
	 * once), within 20 s.
	 */
	end = tvm_now_ns() + 20000000000ull;
	for (r = 0; r < ROUNDS || (tvm_holes(t) == holes_before && tvm_now_ns() < end); r++) {
		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		CHECK_OK(kvmhold_txn_map(txn, t->test_gpa, PAGES * 4096, t->test_hva, 0));
		CHECK_OK(kvmhold_txn_map(txn, 1ull << 60, 4096, t->test_hva, 0));
		CHECK_RET(kvmhold_txn_commit(txn), -EINVAL);
	}
	for (i = 0; i < PAGES * 4096; i++)
		dirty += mem[i] != 0;
	CHECK(tvm_holes(t) > holes_before, "the walkers never touched the unmapped region");
	CHECK(dirty == 0, "%zu bytes of the failed commits' memory were written by the guest",
	      dirty);
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	CHECK(st.txn_rollbacks == r, "%lu rollbacks for %u commits", (unsigned long)st.txn_rollbacks, r);
	CHECK(kvmhold_regions(t->vm, t->test_gpa, PAGES * 4096, NULL, 0) == 0,
	      "a failed commit left a region");
	holes_before = tvm_holes(t) - holes_before;
	finish_tvm(t);
	printf("%u commits failed after creating a slot the walkers would write: its memory "
	       "stayed untouched, %lu hole exits meanwhile\n", r, (unsigned long)holes_before);
	return 0;
}
