// SPDX-License-Identifier: MIT
/*
 * A returned hold means no thread that was inside touches the VM again,
 * and a dirty sync is inside (it passes the gate).  A thread syncs a
 * logged region and stays inside for a while (the library's test delay);
 * the main thread holds, which waits for the sync to leave, and destroys
 * the VM the moment the hold returns.  The sync thread pauses right after
 * its leave (the leave delay), so anything the sync did to the VM after
 * leaving (it used to count its statistics there) lands in freed memory:
 * a sanitizer build (CI runs the suite with SANITIZE=address) reports it.
 *
 * Not in tests/prove.sh's switch pairs: what it catches is a use after
 * free only a sanitizer sees.  Shown once under SANITIZE=address with the
 * statistics counted after gate_leave() again: heap-use-after-free in
 * sync_hva().
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "check.h"
#include "kvmhold.h"
#include "test_hooks.h"

#define ROUNDS 20
#define PAGES  64
#define SIZE   (PAGES * 4096ul)

static struct kvmhold_vm *vm;
static void *mem;

static void *sync_once(void *arg)
{
	uint64_t bitmap[PAGES / 64];

	(void)arg;
	CHECK_OK(kvmhold_dirty_sync(vm, mem, SIZE, bitmap));
	return NULL;      /* the VM may be gone: touch nothing */
}

int main(void)
{
	unsigned round, waited = 0;

	test_apply_breakage();
	mem = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap");
	for (round = 0; round < ROUNDS; round++) {
		struct kvmhold_txn *txn;
		struct kvmhold_stats st;
		pthread_t syncer;
		unsigned begun;

		CHECK_OK(kvmhold_vm_create(NULL, &vm));
		CHECK_OK(kvmhold_txn_begin(vm, &txn));
		CHECK_OK(kvmhold_txn_map(txn, 0, SIZE, mem, KVM_MEM_LOG_DIRTY_PAGES));
		CHECK_OK(kvmhold_txn_commit(txn));
		begun = __atomic_load_n(&kvmhold_test_delays_begun, __ATOMIC_SEQ_CST);
		__atomic_store_n(&kvmhold_test_sync_delay_ns, 20000000, __ATOMIC_RELAXED);
		__atomic_store_n(&kvmhold_test_leave_delay_ns, 20000000, __ATOMIC_RELAXED);
		CHECK(pthread_create(&syncer, NULL, sync_once, NULL) == 0, "pthread_create");
		/* The sync's delay, inside the gate, is the first to begin. */
		while (__atomic_load_n(&kvmhold_test_delays_begun, __ATOMIC_SEQ_CST) == begun)
			sched_yield();
		CHECK_OK(kvmhold_hold(vm, -1));
		CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
		waited += st.last_hold_ns >= 1000000;   /* it waited for the sync */
		kvmhold_vm_destroy(vm);     /* at once: the sync has left */
		CHECK(pthread_join(syncer, NULL) == 0, "pthread_join");
		__atomic_store_n(&kvmhold_test_sync_delay_ns, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&kvmhold_test_leave_delay_ns, 0, __ATOMIC_RELAXED);
	}
	/* A round whose sync had left before the hold began tests nothing. */
	CHECK(waited >= ROUNDS / 2, "only %u of %u holds waited for the sync", waited, ROUNDS);
	printf("%u of %u holds waited for a sync to leave; the VM destroyed at once\n",
	       waited, ROUNDS);
	return 0;
}
