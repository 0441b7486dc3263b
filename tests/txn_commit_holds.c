// SPDX-License-Identifier: MIT
/*
 * Holds are counted, not owned: any thread may release one.  But the
 * hold a transaction's commit takes while it applies its ioctls is not
 * the VMM's to release: kvmhold_release() says -EBUSY while every hold
 * left is one a commit in progress took, and the VM stays held until the
 * commit lets it go.  (Released, the vCPUs would run through the commit's
 * DELETE and CREATE; a second holder arriving then would sleep beside the
 * commit on the same word.)  Two cases, each with the commit paused right
 * after its hold (the library's commit hook): the commit's hold alone,
 * and the commit's hold joined to the main thread's, which the main thread
 * releases and then tries to release once more.  A third case goes the
 * other way round, through a deferred release: a device thread commits
 * inside its own section while the main thread joins, so its hold stays
 * until the section ends; a second commit takes its hold; the main thread
 * releases twice (its own and, counted not owned, the device's); then the
 * device's section ends, and its deferred release must not take the
 * second commit's hold.
 *
 * Can fail: KVMHOLD_TEST_BREAK=commit-holds lets kvmhold_release() take
 * the commit's hold: it returns 0 and the VM is no longer held while the
 * commit runs.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "kvmhold.h"
#include "test_hooks.h"

#define SIZE (2ull << 20)

static struct kvmhold_vm *vm;
static void *mem;
static atomic_int in_commit, go_on;
static atomic_int device_committed, device_go;

/* Called by the commit with its hold taken: wait for the main thread. */
static void commit_paused(void)
{
	atomic_store(&in_commit, 1);
	while (!atomic_load(&go_on))
		sched_yield();
}

static void *commit(void *arg)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	if (arg)
		CHECK_OK(kvmhold_txn_unmap(txn, 0, SIZE));
	else
		CHECK_OK(kvmhold_txn_map(txn, 0, SIZE, mem, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	return NULL;
}

static void start_commit(pthread_t *t, void *unmap)
{
	atomic_store(&in_commit, 0);
	atomic_store(&go_on, 0);
	CHECK(pthread_create(t, NULL, commit, unmap) == 0, "pthread_create");
	while (!atomic_load(&in_commit))
		sched_yield();
}

/* Commits inside its own section; the release is deferred to its end. */
static void *device(void *arg)
{
	struct kvmhold_txn *txn;

	(void)arg;
	CHECK_OK(kvmhold_mem_begin(vm));
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_map(txn, 0, SIZE, mem, 0));
	CHECK_OK(kvmhold_txn_commit(txn));
	atomic_store(&device_committed, 1);
	while (!atomic_load(&device_go))
		sched_yield();
	CHECK_OK(kvmhold_mem_end(vm));              /* the deferred release */
	return NULL;
}

static void finish_commit(pthread_t t)
{
	atomic_store(&go_on, 1);
	CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	CHECK_RET(kvmhold_is_held(vm), 0);
	CHECK_RET(kvmhold_release(vm), -EINVAL);      /* nothing left to release */
}

int main(void)
{
	struct kvmhold_vm_opts o;
	pthread_t t;

	test_apply_breakage();
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = KVMHOLD_VM_ALWAYS_HOLD;        /* every commit holds */
	CHECK_OK(kvmhold_vm_create(&o, &vm));
	mem = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	kvmhold_test_commit_hook = commit_paused;

	/* The commit's hold alone. */
	start_commit(&t, NULL);
	CHECK_RET(kvmhold_release(vm), -EBUSY);
	CHECK_RET(kvmhold_is_held(vm), 1);
	finish_commit(t);

	/* Joined to the main thread's: that one goes, the commit's stays. */
	CHECK_OK(kvmhold_hold(vm, -1));
	start_commit(&t, (void *)1);
	CHECK_OK(kvmhold_release(vm));
	CHECK_RET(kvmhold_release(vm), -EBUSY);
	CHECK_RET(kvmhold_is_held(vm), 1);
	finish_commit(t);

	/* A deferred release must not take the commit's hold either. */
	atomic_store(&in_commit, 0);
	atomic_store(&go_on, 0);
	CHECK(pthread_create(&t, NULL, device, NULL) == 0, "pthread_create");
	while (!atomic_load(&in_commit))            /* the device's commit, paused */
		sched_yield();
	{
		pthread_t dev = t, second;

		CHECK_OK(kvmhold_hold(vm, -1));     /* joins: the device's release is deferred */
		atomic_store(&go_on, 1);
		while (!atomic_load(&device_committed))
			sched_yield();
		start_commit(&second, (void *)1);   /* the second commit, paused */
		CHECK_OK(kvmhold_release(vm));      /* the main thread's */
		CHECK_OK(kvmhold_release(vm));      /* the device's, counted not owned */
		CHECK_RET(kvmhold_release(vm), -EBUSY);
		atomic_store(&device_go, 1);
		CHECK(pthread_join(dev, NULL) == 0, "pthread_join");
		CHECK_RET(kvmhold_is_held(vm), 1);  /* the second commit still holds */
		finish_commit(second);
	}

	kvmhold_test_commit_hook = NULL;
	kvmhold_vm_destroy(vm);
	printf("a commit's hold: kvmhold_release() -EBUSY alone and after a joined hold went\n");
	return 0;
}
