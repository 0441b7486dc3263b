// SPDX-License-Identifier: MIT
/*
 * Dirty tracking, page by page, with both KVM mechanisms (bitmap, ring): a
 * guest writes exactly the pages the test names, and a sync must report
 * them, across splits, merges, moves and logging switched off; a page
 * mapped at two gpas is dirty when written through either; a small ring
 * fills up and kvmhold_vcpu_run() empties it without the VMM noticing; a
 * vCPU destroyed with entries in its ring (hot-unplug during a migration)
 * does not take them along; bad input gets its errno.
 *
 * Can fail: KVMHOLD_TEST_BREAK=dirty-harvest drops what a destroyed slot
 * or vCPU held, and the pages written before the change go missing.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "check.h"
#include "tvm.h"

#define PAGE 4096ull
#define NP   128
#define WORDS ((NP + 63) / 64)

static struct tvm *t;
static const char *mode;

static void guest_writes(const unsigned *pages, unsigned n, uint64_t value)
{
	uint64_t bm[WORDS];

	test_page_bits(bm, WORDS, pages, n);
	CHECK_OK(tvm_probe_write(t, bm, value, 20000));
}

static void sync_region(uint64_t *bm)
{
	CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, NP * PAGE, bm));
}

/* The sync must report exactly these pages (or at least them, if !exact). */
static void expect(const unsigned *pages, unsigned n, bool exact, const char *what)
{
	uint64_t got[WORDS], want[WORDS];

	sync_region(got);
	test_page_bits(want, WORDS, pages, n);
	for (unsigned w = 0; w < WORDS; w++) {
		CHECK(!(want[w] & ~got[w]), "%s, %s: page(s) %#lx of word %u written but not reported",
		      mode, what, (unsigned long)(want[w] & ~got[w]), w);
		CHECK(!exact || got[w] == want[w], "%s, %s: extra pages %#lx reported in word %u",
		      mode, what, (unsigned long)(got[w] & ~want[w]), w);
	}
}

static void commit_one(int (*op)(struct kvmhold_txn *, uint64_t, uint64_t, uint32_t),
		       uint64_t gpa, uint64_t size, uint32_t flags)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(op(txn, gpa, size, flags));
	CHECK_OK(kvmhold_txn_commit(txn));
}

static int op_split(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size, uint32_t flags)
{
	(void)size;
	(void)flags;
	return kvmhold_txn_split(txn, gpa);
}

static int op_merge(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size, uint32_t flags)
{
	(void)flags;
	return kvmhold_txn_merge(txn, gpa, size);
}

static int op_flags(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size, uint32_t flags)
{
	return kvmhold_txn_set_flags(txn, gpa, size, flags);
}

static int op_move_back(struct kvmhold_txn *txn, uint64_t gpa, uint64_t size, uint32_t flags)
{
	/* Move away and map the same memory again in its place: same bytes, new slots. */
	CHECK_OK(kvmhold_txn_move(txn, gpa, size, gpa + 0x10000000));
	CHECK_OK(kvmhold_txn_map(txn, gpa, size, (char *)t->test_hva + (gpa - t->test_gpa), flags));
	return kvmhold_txn_unmap(txn, gpa + 0x10000000, size);
}

static void run_mode(unsigned ring_bytes)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_PROBE, .test_size = NP * PAGE,
		.map_test_region = true, .test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES,
		.vm_opts = { .dirty_ring_bytes = ring_bytes }, .quiet = true,
	};
	static const unsigned a[] = { 3, 70, 100 }, b[] = { 5, 6, 7 }, c[] = { 10, 90 },
			      d[] = { 20 }, e[] = { 40 }, f[] = { 41, 42 };
	uint64_t base, got[WORDS], gpa_bm[WORDS];
	unsigned none[1] = { 0 };

	mode = ring_bytes ? "ring" : "bitmap";
	CHECK_OK(tvm_create(&o, &t));
	CHECK_OK(tvm_start(t));
	base = t->test_gpa;
	sync_region(got);     /* drain: pages may start out dirty (initially-set) */

	guest_writes(a, 3, 1);
	expect(a, 3, true, "plain writes");
	expect(none, 0, true, "a second sync");

	guest_writes(b, 3, 2);
	commit_one(op_split, base + 6 * PAGE, 0, 0);
	commit_one(op_split, base + 64 * PAGE, 0, 0);
	expect(b, 3, true, "writes, then two splits");

	guest_writes(c, 2, 3);
	commit_one(op_merge, base, 64 * PAGE, 0);
	commit_one(op_merge, base, NP * PAGE, 0);
	expect(c, 2, true, "writes, then merges");

	guest_writes(c, 2, 4);
	commit_one(op_move_back, base, 32 * PAGE, KVMHOLD_MEM_LOG_DIRTY);
	expect(c, 2, false, "writes, then a move away and back");

	guest_writes(d, 1, 5);
	commit_one(op_flags, base + 16 * PAGE, 16 * PAGE, 0);      /* logging off */
	expect(d, 1, false, "writes, then logging off: the bits gathered are kept");
	commit_one(op_flags, base + 16 * PAGE, 16 * PAGE, KVMHOLD_MEM_LOG_DIRTY);
	sync_region(got);

	/* Page 40 also mapped at a second gpa: a write through the alias counts. */
	{
		struct kvmhold_txn *txn;

		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		CHECK_OK(kvmhold_txn_map(txn, base + 0x20000000, NP * PAGE, t->test_hva,
					 KVMHOLD_MEM_LOG_DIRTY));
		CHECK_OK(kvmhold_txn_commit(txn));
	}
	sync_region(got);
	t->shared->test_gpa = base + 0x20000000;
	guest_writes(e, 1, 6);
	t->shared->test_gpa = base;
	expect(e, 1, true, "a write through the alias");

	/* By gpa: the same bits. */
	guest_writes(f, 2, 7);
	CHECK_OK(kvmhold_dirty_sync_gpa(t->vm, base, NP * PAGE, gpa_bm));
	test_page_bits(got, WORDS, f, 2);
	CHECK(!memcmp(got, gpa_bm, sizeof(got)), "%s: kvmhold_dirty_sync_gpa", mode);

	printf("%s: plain writes, splits, merges, moves, logging off, an alias, by gpa: "
	       "every written page reported\n", mode);
	CHECK_OK(tvm_stop(t));
	CHECK(tvm_failures(t) == 0, "guest failures: %s", tvm_failure_msg(t, 0));
	tvm_destroy(t);
}

static void bad_inputs(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_NONE, .test_size = NP * PAGE,
		.map_test_region = true, .quiet = true,
	};
	uint64_t bm[WORDS];
	void *other = mmap(NULL, NP * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK_OK(tvm_create(&o, &t));
	CHECK_RET(kvmhold_dirty_sync(t->vm, (char *)t->test_hva + 8, PAGE, bm), -EINVAL);
	CHECK_RET(kvmhold_dirty_sync(t->vm, t->test_hva, PAGE + 1, bm), -EINVAL);
	CHECK_RET(kvmhold_dirty_sync(t->vm, t->test_hva, 0, bm), -EINVAL);
	CHECK_RET(kvmhold_dirty_sync(t->vm, t->test_hva, PAGE, NULL), -EINVAL);
	CHECK_RET(kvmhold_dirty_sync(NULL, t->test_hva, PAGE, bm), -EINVAL);
	CHECK_RET(kvmhold_dirty_sync(t->vm, other, PAGE, bm), -ENOENT);       /* unmapped */
	CHECK_RET(kvmhold_dirty_sync(t->vm, t->test_hva, PAGE, bm), -ENODATA); /* never logged */
	CHECK_RET(kvmhold_dirty_sync_gpa(t->vm, t->test_gpa, PAGE, bm), -ENODATA);
	CHECK_RET(kvmhold_dirty_sync_gpa(t->vm, t->test_gpa + NP * PAGE, PAGE, bm), -ENOENT);
	CHECK_RET(kvmhold_dirty_sync_gpa(t->vm, t->test_gpa + 1, PAGE, bm), -EINVAL);
	tvm_destroy(t);
	munmap(other, NP * PAGE);
	printf("bad inputs: -EINVAL, -ENOENT (unmapped), -ENODATA (never logged)\n");
}

/* A 4 KiB ring (256 entries) and 1024 pages written between two syncs. */
static void ring_full(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_PROBE, .test_size = 1024 * PAGE,
		.map_test_region = true, .test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES,
		.vm_opts = { .dirty_ring_bytes = 4096 }, .quiet = true,
	};
	uint64_t all[16], got[16];
	struct tvm_vcpu_stats vs;
	struct kvmhold_stats st;

	CHECK_OK(tvm_create(&o, &t));
	CHECK_OK(tvm_start(t));
	memset(all, 0xff, sizeof(all));
	CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, 1024 * PAGE, got));
	CHECK_OK(tvm_probe_write(t, all, 9, 20000));
	CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, 1024 * PAGE, got));
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	for (unsigned w = 0; w < 16; w++)
		CHECK(got[w] == ~0ull, "ring: pages %#lx of word %u not reported (%lu ring-full exits, "
		      "%lu entries, %lu unknown)", (unsigned long)~got[w], w,
		      (unsigned long)st.ring_full_exits, (unsigned long)st.ring_entries,
		      (unsigned long)st.ring_unknown);
	tvm_stats(t, &vs);
	CHECK(st.ring_full_exits > 0, "the ring never filled up");
	CHECK(vs.exits == vs.io, "the VMM saw %lu exits that were not its ucalls",
	      (unsigned long)(vs.exits - vs.io));
	printf("ring: 1024 pages through a 256-entry ring: %lu ring-full exits handled "
	       "inside, %lu entries harvested, every page reported\n",
	       (unsigned long)st.ring_full_exits, (unsigned long)st.ring_entries);
	CHECK_OK(tvm_stop(t));
	tvm_destroy(t);
}

/* Ring mode: a vCPU destroyed after its guest wrote, before any sync. */
static void ring_vcpu_destroyed(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_PROBE, .test_size = NP * PAGE,
		.map_test_region = true, .test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES,
		.vm_opts = { .dirty_ring_bytes = 64 * 1024 }, .quiet = true,
	};
	static const unsigned pages[] = { 2, 33, 99 };
	uint64_t got[WORDS];

	mode = "ring, vCPU destroyed";
	CHECK_OK(tvm_create(&o, &t));
	CHECK_OK(tvm_start(t));
	sync_region(got);
	guest_writes(pages, 3, 5);           /* vCPU 0 writes; its ring holds them */
	CHECK_OK(tvm_stop(t));
	kvmhold_vcpu_destroy(tvm_vcpu(t, 0));
	t->vcpus[0].vcpu = NULL;
	expect(pages, 3, false, "after the writer was destroyed");
	tvm_destroy(t);
	printf("ring: a vCPU destroyed with 3 unharvested pages in its ring: all reported\n");
}

static atomic_int parked_result = 1;

static void *sync_elsewhere(void *arg)
{
	uint64_t bm[WORDS];

	(void)arg;
	atomic_store(&parked_result, kvmhold_dirty_sync(t->vm, t->test_hva, NP * PAGE, bm));
	return NULL;
}

/*
 * A thread holding the VM syncs while another thread's sync waits at the
 * gate; a gpa range with an unlogged part syncs its logged part; one with a
 * hole fails and keeps the bits it would have reported.
 */
static void sync_corners(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_PROBE, .test_size = NP * PAGE,
		.map_test_region = true, .test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES, .quiet = true,
	};
	static const unsigned w[] = { 1, 2 };
	uint64_t bm[WORDS * 3], got[WORDS];   /* up to 3 * NP pages */
	struct kvmhold_stats st;
	struct kvmhold_txn *txn;
	char *other = mmap(NULL, NP * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t b;
	uint64_t waits;

	mode = "corners";
	CHECK_OK(tvm_create(&o, &t));
	CHECK_OK(tvm_start(t));
	sync_region(got);

	CHECK_OK(kvmhold_hold(t->vm, 20000));
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	waits = st.gate_waits;
	CHECK(pthread_create(&b, NULL, sync_elsewhere, NULL) == 0, "pthread_create");
	do {
		CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
		sched_yield();
	} while (st.gate_waits == waits);
	sync_region(got);                     /* must not wait for the parked sync */
	CHECK_OK(kvmhold_release(t->vm));
	pthread_join(b, NULL);
	CHECK_OK(atomic_load(&parked_result));

	/* An unlogged region right after the logged one. */
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_map(txn, t->test_gpa + NP * PAGE, NP * PAGE, other, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	guest_writes(w, 2, 11);
	CHECK_RET(kvmhold_dirty_sync_gpa(t->vm, t->test_gpa, 3 * NP * PAGE, bm), -ENOENT);
	CHECK_OK(kvmhold_dirty_sync_gpa(t->vm, t->test_gpa, 2 * NP * PAGE, bm));
	test_page_bits(got, WORDS, w, 2);
	CHECK(!memcmp(got, bm, sizeof(got)) && !bm[WORDS] && !bm[WORDS + 1],
	      "sync_gpa over a logged and an unlogged region");
	printf("sync under a hold with another sync parked; sync_gpa over an unlogged part; "
	       "a failing sync_gpa keeps its bits\n");
	CHECK_OK(tvm_stop(t));
	tvm_destroy(t);
	munmap(other, NP * PAGE);
}

int main(void)
{
	test_apply_breakage();
	run_mode(0);
	run_mode(64 * 1024);
	ring_full();
	ring_vcpu_destroyed();
	sync_corners();
	bad_inputs();
	return 0;
}
