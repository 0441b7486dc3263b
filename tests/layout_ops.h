/* SPDX-License-Identifier: MIT */
/*
 * Random layout changes over a tvm test region that keep every page of the
 * region mapped to the same host memory: split, merge, grow and shrink (a
 * boundary between two slots moves), move (a slot moves to an alias area
 * outside the region and the same host memory is mapped again in its
 * place), dirty logging on and off.  A guest walking the region must never
 * notice any of them.  Used by the transaction tests.
 */
#ifndef KVMHOLD_TEST_LAYOUT_OPS_H
#define KVMHOLD_TEST_LAYOUT_OPS_H

#include "check.h"
#include "tvm.h"

#define PAGE 4096ull
#define MAX_REGIONS 512

enum layout_op {
	LOP_SPLIT, LOP_MERGE, LOP_GROW, LOP_SHRINK, LOP_MOVE, LOP_LOG_ON, LOP_LOG_OFF,
	LOP_KINDS
};

static const char *const layout_op_names[LOP_KINDS] = {
	"split", "merge", "grow", "shrink", "move", "log-on", "log-off",
};

struct layout {
	struct kvmhold_vm *vm;
	struct tvm *tvm;
	uint64_t gpa, size;        /* the walked region */
	uint64_t alias_gpa;        /* where moved slots go, outside the walk */
	uint64_t rng;
	struct kvmhold_region r[MAX_REGIONS];
	int n;                     /* regions inside [gpa, gpa + size) */
};

static inline uint64_t layout_rand(struct layout *l, uint64_t below)
{
	l->rng ^= l->rng << 13;
	l->rng ^= l->rng >> 7;
	l->rng ^= l->rng << 17;
	return below ? l->rng % below : 0;
}

/* The regions of the walked range, as txn sees them (or as committed, if NULL). */
static inline void layout_read(struct layout *l, struct kvmhold_txn *txn)
{
	l->n = txn ? kvmhold_txn_regions(txn, l->gpa, l->size, l->r, MAX_REGIONS)
		   : kvmhold_regions(l->vm, l->gpa, l->size, l->r, MAX_REGIONS);
	CHECK(l->n > 0 && l->n <= MAX_REGIONS, "regions: %d", l->n);
}

/* Adjacent regions i, i+1 with contiguous host memory, or -1. */
static inline int layout_pair(struct layout *l)
{
	int i, start;

	if (l->n < 2)
		return -1;
	start = (int)layout_rand(l, (uint64_t)l->n - 1);
	for (i = 0; i < l->n - 1; i++) {
		int j = (start + i) % (l->n - 1);
		struct kvmhold_region *a = &l->r[j], *b = &l->r[j + 1];

		if (a->gpa + a->size == b->gpa && (char *)a->hva + a->size == (char *)b->hva)
			return j;
	}
	return -1;
}

/*
 * Add one change of the given kind to txn.  Returns 1 if added, 0 if the
 * layout offers no place for it right now; fails the test on an error.
 */
static inline int layout_add_op(struct layout *l, struct kvmhold_txn *txn, enum layout_op op)
{
	struct kvmhold_region *a, *b;
	uint64_t k, pages;
	int i;

	layout_read(l, txn);
	i = (int)layout_rand(l, (uint64_t)l->n);
	a = &l->r[i];
	pages = a->size / PAGE;
	switch (op) {
	case LOP_SPLIT:
		if (pages < 2)
			return 0;
		CHECK_OK(kvmhold_txn_split(txn, a->gpa + (1 + layout_rand(l, pages - 1)) * PAGE));
		return 1;
	case LOP_MERGE:
		i = layout_pair(l);
		if (i < 0)
			return 0;
		a = &l->r[i];
		b = &l->r[i + 1];
		if (a->flags != b->flags)
			CHECK_OK(kvmhold_txn_set_flags(txn, b->gpa, b->size, a->flags));
		CHECK_OK(kvmhold_txn_merge(txn, a->gpa, a->size + b->size));
		return 1;
	case LOP_GROW:           /* a takes the first k pages of b */
		i = layout_pair(l);
		if (i < 0 || l->r[i + 1].size < 2 * PAGE)
			return 0;
		a = &l->r[i];
		b = &l->r[i + 1];
		k = 1 + layout_rand(l, b->size / PAGE - 1);
		CHECK_OK(kvmhold_txn_unmap(txn, b->gpa, k * PAGE));
		CHECK_OK(kvmhold_txn_resize(txn, a->gpa, a->size + k * PAGE));
		return 1;
	case LOP_SHRINK:         /* a gives its last k pages to a new slot */
		if (pages < 2)
			return 0;
		k = 1 + layout_rand(l, pages - 1);
		CHECK_OK(kvmhold_txn_resize(txn, a->gpa, a->size - k * PAGE));
		CHECK_OK(kvmhold_txn_map(txn, a->gpa + a->size - k * PAGE, k * PAGE,
					 (char *)a->hva + a->size - k * PAGE, a->flags));
		return 1;
	case LOP_MOVE: {
		struct kvmhold_region alias[MAX_REGIONS];
		int n = kvmhold_txn_regions(txn, l->alias_gpa, l->size, alias, MAX_REGIONS);

		/* One alias at a time: the previous one goes in the same transaction. */
		CHECK(n >= 0 && n <= MAX_REGIONS, "alias regions: %d", n);
		while (n-- > 0)
			CHECK_OK(kvmhold_txn_unmap(txn, alias[n].gpa, alias[n].size));
		CHECK_OK(kvmhold_txn_move(txn, a->gpa, a->size, l->alias_gpa + (a->gpa - l->gpa)));
		CHECK_OK(kvmhold_txn_map(txn, a->gpa, a->size, a->hva, a->flags));
		return 1;
	}
	case LOP_LOG_ON:
	case LOP_LOG_OFF: {
		uint32_t flags = op == LOP_LOG_ON ? KVMHOLD_MEM_LOG_DIRTY : 0;
		uint64_t first = layout_rand(l, l->size / PAGE);
		uint64_t count = 1 + layout_rand(l, l->size / PAGE - first);

		CHECK_OK(kvmhold_txn_set_flags(txn, l->gpa + first * PAGE, count * PAGE, flags));
		return 1;
	}
	default:
		return 0;
	}
}

#endif
