// SPDX-License-Identifier: MIT
/*
 * A commit that fails part-way leaves the layout exactly as before: for
 * every kind of change, the k-th memslot ioctl of the commit is made to
 * fail (test-only fault injection), for every k.  After each failure the
 * committed layout (gpa, size, host memory, flags, slot id of every slot)
 * is unchanged, the guest walking the region never noticed (no hole, no
 * bad page), and no slot id leaked.
 *
 * Can fail: KVMHOLD_TEST_BREAK=txn-undo leaves the done ioctls in place.
 */
#include "hold_checks.h"
#include "layout_ops.h"

#define REGION (128 * 1024)

static struct kvmhold_region before[MAX_REGIONS], after[MAX_REGIONS];

/* The whole layout: system region, walked region, alias area. */
static int snapshot(struct kvmhold_vm *vm, struct kvmhold_region *r)
{
	int n = kvmhold_regions(vm, 0, 1ull << 40, r, MAX_REGIONS);

	CHECK(n > 0 && n <= MAX_REGIONS, "regions: %d", n);
	return n;
}

static uint32_t max_slot_id(const struct kvmhold_region *r, int n)
{
	uint32_t m = 0;

	while (n-- > 0)
		if (r[n].slot > m)
			m = r[n].slot;
	return m;
}

/*
 * One transaction of the given kind, the same one for the same seed and
 * layout.  Returns 0 if the layout has no room for it with this seed.
 */
static int build(struct layout *l, struct kvmhold_txn *txn, int kind, uint64_t seed)
{
	l->rng = seed;
	if (kind < LOP_KINDS)
		return layout_add_op(l, txn, (enum layout_op)kind);
	if (kind == LOP_KINDS) {        /* hot-plug: map new memory */
		CHECK_OK(kvmhold_txn_map(txn, l->alias_gpa + 0x100000, 4 * PAGE,
					 tvm_gpa_to_hva(l->tvm, l->gpa, 1), 0));
	} else if (kind == LOP_KINDS + 1) {   /* hot-unplug: unmap it again */
		CHECK_OK(kvmhold_txn_unmap(txn, l->alias_gpa + 0x100000, 4 * PAGE));
	} else {                        /* a plain KVM move: the alias "move" made */
		struct kvmhold_region alias;

		if (kvmhold_txn_regions(txn, l->alias_gpa, 0x1000000, &alias, 1) < 1)
			return 0;
		CHECK_OK(kvmhold_txn_move(txn, alias.gpa, alias.size, alias.gpa + 0x1000000));
	}
	return 1;
}

/* A seed with which this kind of change really changes the layout. */
static uint64_t find_seed(struct layout *l, struct kvmhold_vm *vm, int kind)
{
	uint64_t seed;

	for (seed = 1000; seed < 2000; seed++) {
		struct kvmhold_txn *txn;
		int n, m = -1, i;

		n = snapshot(vm, before);
		CHECK_OK(kvmhold_txn_begin(vm, &txn));
		if (build(l, txn, kind, seed))
			m = kvmhold_txn_regions(txn, 0, 1ull << 40, after, MAX_REGIONS);
		kvmhold_txn_abort(txn);
		if (m < 0)
			continue;
		if (m != n)
			return seed;
		/* New entries have no slot id yet: compare without ids. */
		for (i = 0; i < n; i++)
			after[i].slot = before[i].slot;
		if (memcmp(before, after, (size_t)n * sizeof(*before)))
			return seed;
	}
	CHECK(0, "no room for change kind %d", kind);
	return 0;
}

int main(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_WALK, .test_size = REGION,
		.map_test_region = true, .walk_flags = TVM_WALK_NO_ASSERT, .quiet = true,
	};
	static const char *const extra[] = { "map", "unmap", "move-kvm" };
	struct layout l;
	struct tvm *t;
	unsigned failures = 0;
	int kind;

	test_apply_breakage();
	t = start_tvm(&o);
	l = (struct layout){ .vm = t->vm, .tvm = t, .gpa = t->test_gpa, .size = REGION,
			     .alias_gpa = t->test_gpa + 0x20000000 };

	/* Start from a layout of several slots with different flags. */
	for (kind = 0; kind < 12; kind++) {
		struct kvmhold_txn *txn;

		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		build(&l, txn, kind % 2 ? LOP_SPLIT : LOP_LOG_ON, 100 + (uint64_t)kind);
		CHECK_OK(kvmhold_txn_commit(txn));
	}

	for (kind = 0; kind < LOP_KINDS + 3; kind++) {
		const char *name = kind < LOP_KINDS ? layout_op_names[kind] : extra[kind - LOP_KINDS];
		uint64_t seed = find_seed(&l, t->vm, kind);
		struct kvmhold_stats st;
		unsigned k, ioctls = 0;
		uint32_t max_id;
		int n, r;

		n = snapshot(t->vm, before);
		max_id = max_slot_id(before, n);
		for (k = 1;; k++) {
			struct kvmhold_txn *txn;
			int m;

			CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
			CHECK(build(&l, txn, kind, seed), "%s: no room", name);
			__atomic_store_n(&kvmhold_test_fail_ioctl, k, __ATOMIC_RELAXED);
			r = kvmhold_txn_commit(txn);
			__atomic_store_n(&kvmhold_test_fail_ioctl, 0, __ATOMIC_RELAXED);
			if (r == 0)
				break;          /* the plan has fewer than k ioctls */
			CHECK_RET(r, -EIO);
			failures++;
			m = snapshot(t->vm, after);
			CHECK(m == n && !memcmp(before, after, (size_t)n * sizeof(*before)),
			      "%s: layout changed by a commit that failed at ioctl %u", name, k);
		}
		CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
		ioctls = st.last_txn_ioctls;
		CHECK(k == ioctls + 1, "%s: failed at %u positions, plan has %u ioctls", name,
		      k - 1, ioctls);
		n = snapshot(t->vm, after);
		CHECK(max_slot_id(after, n) <= max_id + ioctls,
		      "%s: slot ids leaked (max %u before, %u after)", name, max_id,
		      max_slot_id(after, n));
		printf("%-8s %u ioctls: failure injected at each, layout unchanged each time\n",
		       name, ioctls);
	}
	CHECK_OK(tvm_wait_counter_moves(t, 0, 20000));
	CHECK_OK(tvm_wait_counter_moves(t, 1, 20000));
	CHECK(tvm_holes(t) == 0, "the guest saw %lu holes", (unsigned long)tvm_holes(t));
	CHECK(tvm_walk_mismatches(t, 0) + tvm_walk_mismatches(t, 1) == 0, "bad pages");
	printf("%u failed commits rolled back; the guest saw no hole and no bad page\n", failures);
	finish_tvm(t);
	return 0;
}
