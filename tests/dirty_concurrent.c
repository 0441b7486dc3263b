// SPDX-License-Identifier: MIT
/*
 * Syncs racing commits: eight vCPUs write random pages, one thread commits
 * random transactions over the region as fast as it can, and the main
 * thread syncs and copies the dirty pages at the same time, for both KVM
 * mechanisms.  At the end (VM held, final sync and copy) the copy equals
 * guest memory.  A second thread syncing a disjoint half of the region
 * checks that syncs of different ranges do not take each other's pages.
 *
 * Can fail: KVMHOLD_TEST_BREAK=dirty-harvest loses pages here too.  The
 * end makes that certain rather than likely: the guest writes 64 pages no
 * sync has seen, stops, and two commits destroy every slot they are in
 * (100-230 pages differed with the harvest off, both mechanisms).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "hold_checks.h"
#include "layout_ops.h"

#define NP      256
#define REGION  (NP * PAGE)
#define HALF    (REGION / 2)

static struct tvm *t;
static char *dst;
static atomic_bool stop_threads;
static atomic_uint commits;

static void *committer(void *arg)
{
	struct layout l = { .vm = t->vm, .tvm = t, .gpa = t->test_gpa, .size = REGION,
			    .alias_gpa = t->test_gpa + 0x20000000, .rng = (uintptr_t)arg };

	while (!atomic_load(&stop_threads)) {
		struct kvmhold_txn *txn;
		enum layout_op op = (enum layout_op)layout_rand(&l, LOP_KINDS);

		if (op == LOP_LOG_OFF)
			op = LOP_SPLIT;       /* logging stays on: every write must be tracked */
		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		layout_add_op(&l, txn, op);
		CHECK_OK(kvmhold_txn_commit(txn));
		atomic_fetch_add(&commits, 1);
	}
	return NULL;
}

/* Sync one half of the region and copy what it reports. */
static void sync_half(unsigned half)
{
	char *src = (char *)t->test_hva + half * HALF;
	uint64_t bm[NP / 2 / 64];

	CHECK_OK(kvmhold_dirty_sync(t->vm, src, HALF, bm));
	for (unsigned i = 0; i < NP / 2; i++)
		if (bm[i / 64] & (1ull << (i % 64)))
			memcpy(dst + half * HALF + i * PAGE, src + i * PAGE, PAGE);
}

static void *second_syncer(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_threads))
		sync_half(1);
	return NULL;
}

/* Merge the region into one slot (if it is not), then cut that in two. */
static void reshape_region(void)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_merge(txn, t->test_gpa, REGION));
	CHECK_OK(kvmhold_txn_commit(txn));
	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_split(txn, t->test_gpa + HALF));
	CHECK_OK(kvmhold_txn_commit(txn));
}

static void run(unsigned ring_bytes)
{
	struct tvm_opts o = {
		.nr_vcpus = 8, .program = GUEST_PROG_DIRTY, .test_size = REGION,
		.map_test_region = true, .test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES,
		.vm_opts = { .dirty_ring_bytes = ring_bytes }, .quiet = true,
	};
	pthread_t committer_thread, syncer_thread;
	unsigned rounds, differ = 0, i;
	struct kvmhold_stats st;
	uint64_t written, end;

	atomic_store(&stop_threads, false);
	atomic_store(&commits, 0);
	CHECK_OK(tvm_create(&o, &t));
	tvm_set_param(t, TVM_DIRTY_ITER, 1);
	tvm_set_param(t, TVM_DIRTY_DELAY, 100);
	CHECK_OK(tvm_start(t));
	sync_half(0);
	sync_half(1);
	memcpy(dst, t->test_hva, REGION);

	CHECK(pthread_create(&committer_thread, NULL, committer, (void *)(uintptr_t)(11 + ring_bytes)) == 0,
	      "pthread_create");
	CHECK(pthread_create(&syncer_thread, NULL, second_syncer, NULL) == 0, "pthread_create");
	/* At least 500 syncs and 200 commits racing them (a minute at most). */
	for (rounds = 0; rounds < 500 || atomic_load(&commits) < 200; rounds++) {
		CHECK(rounds < 10000000, "commits do not progress");
		tvm_set_param(t, TVM_DIRTY_ITER, rounds + 2);
		sync_half(0);
	}
	atomic_store(&stop_threads, true);
	pthread_join(committer_thread, NULL);
	pthread_join(syncer_thread, NULL);

	/* Writes no sync has seen, with a value no copy has: at least 64. */
	tvm_set_param(t, TVM_DIRTY_ITER, rounds + 2);
	written = tvm_counter_sum(t);
	end = tvm_now_ms() + 20000;
	while (tvm_counter_sum(t) < written + 64)
		CHECK(tvm_now_ms() < end, "the guests stopped writing");

	/*
	 * Stop the guest, then destroy every memslot of the region in two
	 * held commits.  Pages written since the last sync are then only in
	 * the dirty state of slots these commits destroy, and the stopped
	 * guest never writes them again: a commit that dropped that state
	 * would lose them for good.  (While the guest runs, later writes
	 * re-dirty most lost pages and hide the loss.)
	 */
	CHECK_OK(kvmhold_hold(t->vm, 20000));
	reshape_region();
	sync_half(0);
	sync_half(1);
	for (i = 0; i < NP; i++)
		differ += memcmp(dst + i * PAGE, (char *)t->test_hva + i * PAGE, PAGE) != 0;
	CHECK_OK(kvmhold_release(t->vm));
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	printf("%-6s: 8 vCPUs writing, %u commits racing %lu syncs from two threads; "
	       "%u pages differ at the end, %lu hole exits\n", ring_bytes ? "ring" : "bitmap",
	       atomic_load(&commits), (unsigned long)st.dirty_syncs, differ,
	       (unsigned long)tvm_holes(t));
	CHECK(differ == 0 && tvm_holes(t) == 0, "the copy differs from guest memory");
	finish_tvm(t);
}

int main(void)
{
	test_apply_breakage();
	dst = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(dst != MAP_FAILED, "mmap");
	run(0);
	run(64 * 1024);
	munmap(dst, REGION);
	return 0;
}
