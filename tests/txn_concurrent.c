// SPDX-License-Identifier: MIT
/*
 * Transactions from several threads at once, and from a vCPU thread in its
 * exit handling, while two vCPUs walk the region: commits are serialized
 * (each thread's changes land whole), nothing deadlocks, the guest sees no
 * hole.  Meanwhile a "device thread" inside kvmhold_mem_begin/end looks up
 * guest addresses and finds them stable for the whole section.
 *
 * Can fail: KVMHOLD_TEST_BREAK=txn-hold lets commits change the layout under
 * the guest (holes) and under the device thread's section.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "hold_checks.h"
#include "layout_ops.h"

#define REGION   (128 * 1024)
#define THREADS  3
#define COMMITS  300

static struct tvm *t;
static atomic_bool done;
static atomic_uint vcpu_commits, section_checks;

static void random_commit(struct layout *l)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(l->vm, &txn));
	layout_add_op(l, txn, (enum layout_op)layout_rand(l, LOP_KINDS));
	CHECK_OK(kvmhold_txn_commit(txn));
}

static void *committer(void *arg)
{
	struct layout l = {
		.vm = t->vm, .tvm = t, .gpa = t->test_gpa, .size = REGION,
		.alias_gpa = t->test_gpa + 0x20000000, .rng = (uintptr_t)arg * 7919 + 1,
	};

	for (unsigned i = 0; i < COMMITS; i++)
		random_commit(&l);
	return NULL;
}

/* On vCPU 0's thread at every SYNC exit: commit from inside exit handling. */
static void on_sync(struct tvm *tv, unsigned idx, uint64_t arg, void *cookie)
{
	static struct layout l;

	(void)arg;
	(void)cookie;
	if (idx != 0 || atomic_load(&done))
		return;
	if (!l.vm)
		l = (struct layout){ .vm = tv->vm, .tvm = tv, .gpa = tv->test_gpa, .size = REGION,
				     .alias_gpa = tv->test_gpa + 0x20000000, .rng = 4242 };
	random_commit(&l);
	atomic_fetch_add(&vcpu_commits, 1);
}

/* A device thread: inside a section, translations and memory do not change. */
static void *device(void *arg)
{
	uint64_t rng = 99;

	(void)arg;
	while (!atomic_load(&done)) {
		uint64_t gpa, spin;
		void *hva;

		rng = rng * 6364136223846793005ull + 1;
		gpa = t->test_gpa + ((rng >> 33) % (REGION / PAGE)) * PAGE;
		CHECK_OK(kvmhold_mem_begin(t->vm));
		hva = kvmhold_gpa_to_hva(t->vm, gpa);
		CHECK(hva != NULL, "gpa %#lx unmapped", (unsigned long)gpa);
		for (spin = 0; spin < 2000; spin++)
			CHECK(kvmhold_gpa_to_hva(t->vm, gpa) == hva,
			      "translation of %#lx changed inside a mem section", (unsigned long)gpa);
		CHECK_OK(kvmhold_mem_end(t->vm));
		atomic_fetch_add(&section_checks, 1);
	}
	return NULL;
}

int main(void)
{
	struct tvm_opts o = {
		.nr_vcpus = 2, .program = GUEST_PROG_WALK, .test_size = REGION,
		.map_test_region = true, .walk_flags = TVM_WALK_NO_ASSERT | TVM_WALK_SYNC,
		.quiet = true, .on_sync = on_sync,
	};
	pthread_t threads[THREADS], dev;
	struct kvmhold_stats st;
	uint64_t start;
	unsigned i;

	test_apply_breakage();
	t = start_tvm(&o);
	start = tvm_now_ns();
	CHECK(pthread_create(&dev, NULL, device, NULL) == 0, "pthread_create");
	for (i = 0; i < THREADS; i++)
		CHECK(pthread_create(&threads[i], NULL, committer, (void *)(uintptr_t)(i + 1)) == 0,
		      "pthread_create");
	for (i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	atomic_store(&done, true);
	pthread_join(dev, NULL);
	CHECK_OK(tvm_wait_counter_moves(t, 0, 20000));
	CHECK_OK(tvm_wait_counter_moves(t, 1, 20000));
	CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
	printf("%d threads x %d commits in %.2f s, plus %u from a vCPU thread; %u device-thread "
	       "sections saw stable translations; guest: %lu holes, %lu bad pages\n",
	       THREADS, COMMITS, (tvm_now_ns() - start) / 1e9, atomic_load(&vcpu_commits),
	       atomic_load(&section_checks), (unsigned long)tvm_holes(t),
	       (unsigned long)(tvm_walk_mismatches(t, 0) + tvm_walk_mismatches(t, 1)));
	CHECK(tvm_holes(t) == 0 && tvm_walk_mismatches(t, 0) + tvm_walk_mismatches(t, 1) == 0,
	      "the guest saw holes or bad pages");
	CHECK(st.txn_commits >= THREADS * COMMITS, "%lu commits", (unsigned long)st.txn_commits);
	finish_tvm(t);
	return 0;
}
