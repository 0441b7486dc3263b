// SPDX-License-Identifier: MIT
/*
 * A commit whose hold joins another thread's does not run beside that
 * holder's dirty syncs.  Thread A holds the VM and syncs the logged RAM
 * (the final pass of a migration); thread B merges a 4 KiB logged slot
 * with its 64 MiB neighbour and splits them again, over and over.  B's
 * holds join A's, so without more B's ioctls ran while A's sync walked a
 * table B had not updated yet: A sized its KVM_GET_DIRTY_LOG buffer from
 * the old slot and sent the ioctl to the slot that now had that id (a
 * heap overflow, and -ENOENT or -EINVAL syncs).  Every sync and commit
 * must succeed; the ASan run sees any overflow.
 *
 * Can fail: KVMHOLD_TEST_BREAK=commit-exclusive lets holders' syncs run
 * beside a joined commit.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "check.h"
#include "tvm.h"

#define SMALL  4096ull
#define BIG    (64ull << 20)
#define GPA    (1ull << 30)
#define SECONDS 3

static struct kvmhold_vm *vm;
static char *mem;
static atomic_bool done;
static atomic_uint sync_errors, syncs;
static atomic_int first_error;

static void *migration(void *arg)
{
	size_t words = ((SMALL + BIG) / 4096 + 63) / 64;
	uint64_t *bitmap = calloc(words, sizeof(*bitmap));

	(void)arg;
	CHECK(bitmap != NULL, "calloc");
	while (!atomic_load(&done)) {
		int r;

		CHECK_OK(kvmhold_hold(vm, 10000));
		r = kvmhold_dirty_sync(vm, mem, SMALL + BIG, bitmap);
		if (r) {
			atomic_fetch_add(&sync_errors, 1);
			atomic_store(&first_error, r);
		}
		atomic_fetch_add(&syncs, 1);
		CHECK_OK(kvmhold_release(vm));
		sched_yield();
	}
	free(bitmap);
	return NULL;
}

static void commit_one(int merge)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	if (merge)
		CHECK_OK(kvmhold_txn_merge(txn, GPA, SMALL + BIG));
	else
		CHECK_OK(kvmhold_txn_split(txn, GPA + SMALL));
	CHECK_OK(kvmhold_txn_commit(txn));
}

int main(void)
{
	struct kvmhold_txn *txn;
	unsigned commits = 0;
	uint64_t end;
	pthread_t a;

	test_apply_breakage();
	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	mem = mmap(NULL, SMALL + BIG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	CHECK_OK(kvmhold_txn_begin(vm, &txn));
	CHECK_OK(kvmhold_txn_map(txn, GPA, SMALL, mem, KVMHOLD_MEM_LOG_DIRTY));
	CHECK_OK(kvmhold_txn_map(txn, GPA + SMALL, BIG, mem + SMALL, KVMHOLD_MEM_LOG_DIRTY));
	CHECK_OK(kvmhold_txn_commit(txn));

	CHECK(pthread_create(&a, NULL, migration, NULL) == 0, "pthread_create");
	end = tvm_now_ns() + SECONDS * 1000000000ull;
	while (tvm_now_ns() < end) {
		commit_one(1);
		commit_one(0);
		commits += 2;
	}
	atomic_store(&done, true);
	pthread_join(a, NULL);
	CHECK(atomic_load(&sync_errors) == 0, "%u of %u syncs under a hold failed (first: %s)",
	      atomic_load(&sync_errors), atomic_load(&syncs), strerror(-atomic_load(&first_error)));
	CHECK(atomic_load(&syncs) > 10, "only %u syncs ran", atomic_load(&syncs));
	kvmhold_vm_destroy(vm);
	munmap(mem, SMALL + BIG);
	printf("%u merge/split commits joined a holder's %u syncs: none failed\n", commits,
	       atomic_load(&syncs));
	return 0;
}
