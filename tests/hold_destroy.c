// SPDX-License-Identifier: MIT
/*
 * A returned hold means no thread that was inside will touch the VM
 * again: the VMM may destroy it at once.  A device thread sits in a mem
 * section while the main thread holds; the hold has to sleep until the
 * section ends (the device keeps it open well past the holder's spin);
 * the moment the hold returns, the VM is destroyed.  The section's end
 * must not touch the VM after the decrement that let the hold return
 * (it used to lock vm->lock there): a sanitizer build (CI runs the suite
 * with SANITIZE=address) reports any such use after free.
 *
 * Can fail: KVMHOLD_TEST_BREAK=leave-wake (the leaving thread does not
 * wake the sleeping holder): the hold then returns only when its sleep
 * reaches the hold's deadline, long after the section ended.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "check.h"
#include "tvm.h"
#include "test_hooks.h"

#define ROUNDS 200

static struct kvmhold_vm *vm;
static atomic_int inside;

static void *device(void *arg)
{
	struct kvmhold_stats st;
	uint64_t until;

	CHECK_OK(kvmhold_mem_begin(vm));
	atomic_store(&inside, 1);
	do {      /* until the holder is stopping (it waits for us) */
		CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
		sched_yield();
	} while (!st.stopping);
	until = tvm_now_ns() + (arg ? 0 : 300000);   /* 10x the holder's spin: it sleeps */
	while (tvm_now_ns() < until)
		;
	CHECK_OK(kvmhold_mem_end(vm));    /* the hold returns; the VM goes */
	return NULL;
}

int main(void)
{
	unsigned i;

	test_apply_breakage();
	for (i = 0; i < ROUNDS; i++) {
		pthread_t dev;
		uint64_t t0;

		CHECK_OK(kvmhold_vm_create(NULL, &vm));
		atomic_store(&inside, 0);
		/* Odd rounds: leave at once, with the library pausing after the step out. */
		__atomic_store_n(&kvmhold_test_leave_delay_ns, i % 2 ? 200000 : 0, __ATOMIC_RELAXED);
		CHECK(pthread_create(&dev, NULL, device, (void *)(uintptr_t)(i % 2)) == 0,
		      "pthread_create");
		while (!atomic_load(&inside))
			sched_yield();
		t0 = tvm_now_ns();
		CHECK_OK(kvmhold_hold(vm, 3000));
		CHECK(tvm_now_ns() - t0 < 2500000000ull,
		      "the hold returned at its deadline, not when the section ended");
		kvmhold_vm_destroy(vm);
		pthread_join(dev, NULL);
	}
	printf("%u holds, half sleeping until a section ended, half spinning while it "
	       "ended, each followed at once by destroying the VM\n", ROUNDS);
	return 0;
}
