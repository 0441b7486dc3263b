// SPDX-License-Identifier: MIT
/*
 * Address spaces (KVM_CAP_MULTI_ADDRESS_SPACE; on x86 the second is SMM).
 * Where KVM has two: a transaction in space 1 maps the same guest range as
 * a space-0 slot (spaces may overlap), gets slot ids of its own space
 * (numbered as KVM does, space in bits 16-31), splits and merges there
 * without touching space 0, and the dirty calls of space 1 see a device
 * write marked through it and a guest write made through space 0 (one host
 * page, one dirty state).  Where KVM has one space, every call naming
 * space 1 fails with -EOPNOTSUPP.
 *
 * Can fail (two spaces only, so proved in the nested lane):
 * KVMHOLD_TEST_BREAK=space-ids gives new slots no space bits, and KVM
 * refuses the space-1 slot that then lands on space 0's.
 */
#include <linux/kvm.h>

#include "hold_checks.h"

#define PAGE_SZ 4096ull
#define NP 64
#define REGION (NP * PAGE_SZ)

static void one_space(struct tvm *t)
{
	struct kvmhold_txn *txn;
	struct kvmhold_region r;
	uint64_t bm[1];

	CHECK_RET(kvmhold_txn_begin_as(t->vm, 1, &txn), -EOPNOTSUPP);
	CHECK_RET(kvmhold_regions_as(t->vm, 1, 0, 1, &r, 1), -EOPNOTSUPP);
	CHECK(kvmhold_gpa_to_hva_as(t->vm, 1, t->test_gpa) == NULL, "space 1 lookup");
	CHECK(kvmhold_gpa_to_hva_as(t->vm, 0, t->test_gpa) == t->test_hva, "space 0 lookup");
	CHECK_RET(kvmhold_dirty_sync_gpa_as(t->vm, 1, t->test_gpa, REGION, bm), -EOPNOTSUPP);
	CHECK_RET(kvmhold_dirty_mark_gpa_as(t->vm, 1, t->test_gpa, PAGE_SZ), -EOPNOTSUPP);
	printf("one address space in this KVM: each call naming space 1 gives -EOPNOTSUPP\n");
}

static void commit_in(struct tvm *t, unsigned as, int (*op)(struct kvmhold_txn *, struct tvm *))
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin_as(t->vm, as, &txn));
	CHECK_OK(op(txn, t));
	CHECK_OK(kvmhold_txn_commit(txn));
}

static int map_smram(struct kvmhold_txn *txn, struct tvm *t)
{
	return kvmhold_txn_map(txn, t->test_gpa, REGION, t->test_hva, KVMHOLD_MEM_LOG_DIRTY);
}

static int split_smram(struct kvmhold_txn *txn, struct tvm *t)
{
	return kvmhold_txn_split(txn, t->test_gpa + 16 * PAGE_SZ);
}

static int merge_smram(struct kvmhold_txn *txn, struct tvm *t)
{
	return kvmhold_txn_merge(txn, t->test_gpa, REGION);
}

static int unmap_smram(struct kvmhold_txn *txn, struct tvm *t)
{
	return kvmhold_txn_unmap(txn, t->test_gpa, REGION);
}

/* Space 0 still has its one slot, as tvm made it. */
static void space0_unchanged(struct tvm *t, const struct kvmhold_region *before)
{
	struct kvmhold_region r;

	CHECK(kvmhold_regions_as(t->vm, 0, t->test_gpa, REGION, &r, 1) == 1 &&
	      !memcmp(&r, before, sizeof(r)), "space 0 changed");
}

static void two_spaces(struct tvm *t)
{
	struct kvmhold_region r[4], before;
	uint64_t bm[1], want;
	int n;

	CHECK(kvmhold_regions(t->vm, t->test_gpa, REGION, &before, 1) == 1, "space 0 region");
	commit_in(t, 1, map_smram);
	n = kvmhold_regions_as(t->vm, 1, t->test_gpa, REGION, r, 4);
	CHECK(n == 1 && r[0].gpa == t->test_gpa && r[0].hva == t->test_hva, "space 1: %d regions", n);
	/* Space 1's allocator starts at 0, whatever space 0 uses. */
	CHECK(r[0].slot == 1u << 16, "space 1 slot id %#x, want %#x", r[0].slot, 1u << 16);
	CHECK(kvmhold_gpa_to_hva_as(t->vm, 1, t->test_gpa + PAGE_SZ) ==
	      (char *)t->test_hva + PAGE_SZ, "space 1 lookup");
	space0_unchanged(t, &before);

	commit_in(t, 1, split_smram);
	CHECK(kvmhold_regions_as(t->vm, 1, t->test_gpa, REGION, r, 4) == 2, "space 1 split");
	CHECK((r[0].slot >> 16) == 1 && (r[1].slot >> 16) == 1, "split slots left space 1");
	space0_unchanged(t, &before);

	/* A device write through space 1, a guest write through space 0: same pages. */
	CHECK_OK(kvmhold_dirty_sync_gpa_as(t->vm, 1, t->test_gpa, REGION, bm));   /* drain */
	CHECK_OK(kvmhold_dirty_mark_gpa_as(t->vm, 1, t->test_gpa + 20 * PAGE_SZ, 8));
	bm[0] = 1ull << 5;
	CHECK_OK(tvm_probe_write(t, bm, 7, 20000));
	want = 1ull << 5 | 1ull << 20;
	CHECK_OK(kvmhold_dirty_sync_gpa_as(t->vm, 1, t->test_gpa, REGION, bm));
	CHECK(bm[0] == want, "space 1 sync: %#lx, want %#lx", (unsigned long)bm[0],
	      (unsigned long)want);

	commit_in(t, 1, merge_smram);
	CHECK(kvmhold_regions_as(t->vm, 1, t->test_gpa, REGION, r, 4) == 1, "space 1 merge");
	commit_in(t, 1, unmap_smram);
	CHECK(kvmhold_regions_as(t->vm, 1, 0, UINT64_MAX, r, 4) == 0, "space 1 not empty");
	space0_unchanged(t, &before);
	printf("two address spaces: a space-1 slot over space 0's range, own ids (%#x), split, "
	       "merged, unmapped; dirty pages shared by host page\n", 1u << 16);
}

int main(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_PROBE, .test_size = REGION,
		.map_test_region = true, .test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES, .quiet = true,
	};
	struct tvm *t;
	int spaces;

	test_apply_breakage();
	CHECK_OK(tvm_create(&o, &t));
	CHECK_OK(tvm_start(t));
	spaces = kvmhold_vm_address_spaces(t->vm);
	CHECK(spaces >= 1, "address spaces: %d", spaces);
	CHECK_RET(kvmhold_vm_address_spaces(NULL), -EINVAL);
	if (spaces == 1)
		one_space(t);
	else
		two_spaces(t);
	finish_tvm(t);
	return 0;
}
