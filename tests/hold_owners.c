// SPDX-License-Identifier: MIT
/*
 * Holds are counted, not owned, and the library's per-thread records keep
 * up with that:
 *  - a thread whose holds other threads release, on VMs other threads
 *    destroy, 40 times over, can still hold a new VM (its records of the
 *    old ones are recycled; there are 16);
 *  - a commit made inside a mem section whose hold another thread joined
 *    cannot release it while the section is open (that would leave the
 *    joiner with a non-holder inside): the hold lasts until the section
 *    ends, then goes, and nothing stays held;
 *  - and if other threads release that hold meanwhile (any thread may)
 *    and the committer then takes a hold of its own, the end of its
 *    section does not release the new hold in the old one's place.
 *
 * Can fail: KVMHOLD_TEST_BREAK=record-reclaim (records never recycled:
 * -ENOMEM), KVMHOLD_TEST_BREAK=deferred-release (the commit drops the
 * refused release: the VM stays held for good) and
 * KVMHOLD_TEST_BREAK=deferred-epoch (the deferred release takes the new
 * hold).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "check.h"
#include "test_hooks.h"

static struct kvmhold_vm *shared_vm;
static atomic_int step;

static void wait_step(int s)
{
	while (atomic_load(&step) < s)
		sched_yield();
}

/* Another thread releases the main thread's hold and destroys the VM. */
static void *release_and_destroy(void *arg)
{
	struct kvmhold_vm *vm = arg;

	CHECK_OK(kvmhold_release(vm));
	kvmhold_vm_destroy(vm);
	return NULL;
}

static void records_recycled(void)
{
	struct kvmhold_vm *vm;
	unsigned i;

	for (i = 0; i < 40; i++) {
		pthread_t t;

		CHECK_OK(kvmhold_vm_create(NULL, &vm));
		CHECK_OK(kvmhold_hold(vm, 1000));
		CHECK(pthread_create(&t, NULL, release_and_destroy, vm) == 0, "pthread_create");
		pthread_join(t, NULL);
	}
	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	CHECK_OK(kvmhold_hold(vm, 1000));
	CHECK_OK(kvmhold_mem_begin(vm));
	CHECK_OK(kvmhold_mem_end(vm));
	CHECK_OK(kvmhold_release(vm));
	kvmhold_vm_destroy(vm);
	printf("40 holds released and VMs destroyed by another thread: the holder still "
	       "holds a new VM\n");
}

/* Inside the commit, once its hold is taken: another thread joins it. */
static void let_joiner_in(void)
{
	atomic_store(&step, 1);
	wait_step(2);
}

static int joiner_releases;   /* 1, or 2: also the commit's deferred hold */

static void *joiner(void *arg)
{
	(void)arg;
	wait_step(1);
	CHECK_OK(kvmhold_hold(shared_vm, 10000));
	atomic_store(&step, 2);
	wait_step(3);
	for (int i = 0; i < joiner_releases; i++)
		CHECK_OK(kvmhold_release(shared_vm));
	atomic_store(&step, 4);
	return NULL;
}

/* The commit inside a section; the joiner is in, then let go (step 3). */
static void commit_joined_in_section(void)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_mem_begin(shared_vm));
	kvmhold_test_commit_hook = let_joiner_in;
	CHECK_OK(kvmhold_txn_begin(shared_vm, &txn));
	CHECK_OK(kvmhold_txn_split(txn, (1ull << 30) + (1 << 19)));   /* needs a hold */
	CHECK_OK(kvmhold_txn_commit(txn));
	kvmhold_test_commit_hook = NULL;
	CHECK_RET(kvmhold_is_held(shared_vm), 1);
	atomic_store(&step, 3);
	wait_step(4);
}

/*
 * The joiner releases its hold and the commit's (holds are counted, not
 * owned); the committer, still in its section, holds again: ending the
 * section must leave that new hold alone.
 */
static void deferred_outlived(void)
{
	struct kvmhold_txn *txn;
	pthread_t j;

	CHECK_OK(kvmhold_txn_begin(shared_vm, &txn));
	CHECK_OK(kvmhold_txn_merge(txn, 1ull << 30, 1 << 20));
	CHECK_OK(kvmhold_txn_commit(txn));
	atomic_store(&step, 0);
	joiner_releases = 2;
	CHECK(pthread_create(&j, NULL, joiner, NULL) == 0, "pthread_create");
	commit_joined_in_section();
	pthread_join(j, NULL);
	CHECK_RET(kvmhold_is_held(shared_vm), 0);       /* the joiner let both go */
	CHECK_OK(kvmhold_hold(shared_vm, 1000));         /* a new hold of our own */
	CHECK_OK(kvmhold_mem_end(shared_vm));
	CHECK_RET(kvmhold_is_held(shared_vm), 1);       /* still ours */
	CHECK_OK(kvmhold_release(shared_vm));
	CHECK_RET(kvmhold_is_held(shared_vm), 0);
	printf("a deferred release whose hold others released did not take the "
	       "committer's next hold\n");
}

static void commit_in_section(void)
{
	struct kvmhold_txn *txn;
	struct kvmhold_stats st;
	pthread_t j;
	void *mem;

	mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	CHECK_OK(kvmhold_vm_create(NULL, &shared_vm));
	CHECK_OK(kvmhold_txn_begin(shared_vm, &txn));
	CHECK_OK(kvmhold_txn_map(txn, 1ull << 30, 1 << 20, mem, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	joiner_releases = 1;
	CHECK(pthread_create(&j, NULL, joiner, NULL) == 0, "pthread_create");
	commit_joined_in_section();                   /* the joiner released */
	CHECK_RET(kvmhold_is_held(shared_vm), 1);     /* the commit's hold, until: */
	CHECK_OK(kvmhold_mem_end(shared_vm));
	CHECK_OK(kvmhold_stats_get(shared_vm, &st, sizeof(st)));
	CHECK(st.hold_count == 0, "%u holds left after every section and hold ended",
	      st.hold_count);
	CHECK_RET(kvmhold_is_held(shared_vm), 0);
	pthread_join(j, NULL);
	printf("commit inside a section, hold joined by another thread: held until the "
	       "section ended, then nothing held\n");
	deferred_outlived();
	kvmhold_vm_destroy(shared_vm);
	munmap(mem, 1 << 20);
}

int main(void)
{
	test_apply_breakage();
	records_recycled();
	commit_in_section();
	return 0;
}
