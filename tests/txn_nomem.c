// SPDX-License-Identifier: MIT
/*
 * Out of memory at any point of a transaction operation or a commit
 * changes nothing: each operation is run with its 1st, 2nd, ... entry
 * allocation failing until it succeeds, and after every -ENOMEM the
 * transaction's view must be exactly what it was (no cuts left, no range
 * half re-flagged).  A commit that cannot reserve the record of its newly
 * logged memory fails before any ioctl; once it succeeds, syncs of that
 * memory work (they used to fail with -ENODATA after a record that was
 * lost without a word).
 *
 * Can fail: KVMHOLD_TEST_BREAK=txn-reserve allocates as it goes, as the
 * operations used to.
 */
#include <sys/mman.h>

#include "check.h"
#include "test_hooks.h"

#define PAGE  4096ull
#define G     (1ull << 30)
#define MAXR  16

static struct kvmhold_vm *vm;
static char *mem;

struct view {
	int n;
	struct kvmhold_region r[MAXR];
};

static void view_of(struct kvmhold_txn *txn, struct view *v)
{
	memset(v, 0, sizeof(*v));
	v->n = kvmhold_txn_regions(txn, 0, ~0ull & ~(PAGE - 1), v->r, MAXR);
	CHECK(v->n >= 0 && v->n <= MAXR, "txn_regions: %d", v->n);
	for (int i = 0; i < v->n; i++)
		v->r[i].slot = 0;   /* ids of planned slots are not part of the view */
}

static int op_set_flags(struct kvmhold_txn *t) { return kvmhold_txn_set_flags(t, G + 8 * PAGE, 32 * PAGE, KVMHOLD_MEM_LOG_DIRTY); }
static int op_unmap(struct kvmhold_txn *t) { return kvmhold_txn_unmap(t, G + 4 * PAGE, 8 * PAGE); }
static int op_move(struct kvmhold_txn *t) { return kvmhold_txn_move(t, G + 8 * PAGE, 32 * PAGE, G + 200 * PAGE); }
static int op_split(struct kvmhold_txn *t) { return kvmhold_txn_split(t, G + 20 * PAGE); }
static int op_merge(struct kvmhold_txn *t) { return kvmhold_txn_merge(t, G, 32 * PAGE); }
static int op_resize(struct kvmhold_txn *t) { return kvmhold_txn_resize(t, G + 48 * PAGE, 8 * PAGE); }
static int op_map(struct kvmhold_txn *t) { return kvmhold_txn_map(t, G + 300 * PAGE, 4 * PAGE, mem, 0); }

static const struct { const char *name; int (*fn)(struct kvmhold_txn *); } ops[] = {
	{ "set_flags", op_set_flags }, { "unmap", op_unmap }, { "move", op_move },
	{ "split", op_split }, { "merge", op_merge }, { "resize", op_resize }, { "map", op_map },
};

static void fail_alloc_at(unsigned k)
{
	__atomic_store_n(&kvmhold_test_allocs, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&kvmhold_test_fail_alloc, k, __ATOMIC_RELAXED);
}

/* Each operation, with its k-th allocation failing, k = 1, 2, ... until it succeeds. */
static void operations(void)
{
	unsigned total = 0;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		unsigned k, failures = 0;

		for (k = 1; k < 64; k++) {
			struct kvmhold_txn *txn;
			struct view before, after;
			int r;

			CHECK_OK(kvmhold_txn_begin(vm, &txn));
			view_of(txn, &before);
			fail_alloc_at(k);
			r = ops[i].fn(txn);
			fail_alloc_at(0);
			view_of(txn, &after);
			kvmhold_txn_abort(txn);
			if (r == 0)
				break;
			CHECK_RET(r, -ENOMEM);
			failures++;
			CHECK(before.n == after.n && !memcmp(&before, &after, sizeof(before)),
			      "%s with allocation %u failing: -ENOMEM, but the view changed "
			      "(%d regions before, %d after)", ops[i].name, k, before.n, after.n);
		}
		CHECK(k < 64, "%s never succeeded", ops[i].name);
		total += failures;
	}
	printf("7 operations, %u allocation failures: each -ENOMEM left the view as it was\n",
	       total);
}

/* A commit that cannot reserve its logged-memory record changes nothing. */
static void commit_record(void)
{
	struct kvmhold_stats before, after;
	struct kvmhold_txn *txn;
	uint64_t bitmap[1];
	int r;

	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_set_flags(txn, G, 64 * PAGE, KVMHOLD_MEM_LOG_DIRTY));
	CHECK_OK(kvmhold_stats_get(vm, &before, sizeof(before)));
	fail_alloc_at(1);
	r = kvmhold_txn_commit(txn);
	fail_alloc_at(0);
	CHECK_RET(r, -ENOMEM);
	CHECK_OK(kvmhold_stats_get(vm, &after, sizeof(after)));
	CHECK(after.txn_ioctls == before.txn_ioctls, "the failed commit issued %lu ioctls",
	      (unsigned long)(after.txn_ioctls - before.txn_ioctls));
	CHECK_RET(kvmhold_dirty_sync(vm, mem, 64 * PAGE, bitmap), -ENODATA);  /* not logged */

	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_set_flags(txn, G, 64 * PAGE, KVMHOLD_MEM_LOG_DIRTY));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK_OK(kvmhold_dirty_sync(vm, mem, 64 * PAGE, bitmap));
	printf("a commit whose record could not be reserved failed before any ioctl; "
	       "the next one logs and syncs\n");
}

int main(void)
{
	struct kvmhold_txn *txn;

	test_apply_breakage();
	mem = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	for (unsigned i = 0; i < 4; i++)
		CHECK_OK(kvmhold_txn_map(txn, G + i * 16 * PAGE, 16 * PAGE, mem + i * 16 * PAGE, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	operations();
	commit_record();
	kvmhold_vm_destroy(vm);
	munmap(mem, 64 * PAGE);
	return 0;
}
