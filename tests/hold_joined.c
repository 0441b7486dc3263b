// SPDX-License-Identifier: MIT
/*
 * A joined hold sees the same guarantee as the hold that stopped the VM:
 * no non-holder inside a mem section.  Thread A opens a section, then
 * holds (its own section does not count); thread B's hold joins.  A may
 * not now release and leave B holding while its section is open: that
 * release is refused (-EBUSY).  Once A closes its section it may release;
 * B still holds, and a device thread's kvmhold_mem_begin() parks until B
 * releases.
 *
 * Can fail: KVMHOLD_TEST_BREAK=section-release lets A's release through.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "check.h"

static struct kvmhold_vm *vm;
static atomic_int step;

static void wait_step(int s)
{
	while (atomic_load(&step) < s)
		sched_yield();
}

static void *thread_b(void *arg)
{
	(void)arg;
	wait_step(1);
	CHECK_OK(kvmhold_hold(vm, 10000));            /* joins A's stop */
	atomic_store(&step, 2);
	wait_step(3);
	CHECK_OK(kvmhold_release(vm));
	return NULL;
}

static void *device_thread(void *arg)
{
	(void)arg;
	CHECK_OK(kvmhold_mem_begin(vm));
	CHECK(atomic_load(&step) >= 3, "a device entered its section while B held");
	CHECK_OK(kvmhold_mem_end(vm));
	atomic_store(&step, 4);
	return NULL;
}

int main(void)
{
	struct kvmhold_stats st;
	pthread_t b, dev;

	test_apply_breakage();
	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	CHECK(pthread_create(&b, NULL, thread_b, NULL) == 0, "pthread_create");

	CHECK_OK(kvmhold_mem_begin(vm));                /* A's section */
	CHECK_OK(kvmhold_hold(vm, 10000));
	atomic_store(&step, 1);
	wait_step(2);
	CHECK_RET(kvmhold_release(vm), -EBUSY);         /* would leave B with A inside */
	CHECK_OK(kvmhold_mem_end(vm));
	CHECK_OK(kvmhold_release(vm));                  /* now fine */
	CHECK_RET(kvmhold_is_held(vm), 1);              /* B's hold */

	CHECK(pthread_create(&dev, NULL, device_thread, NULL) == 0, "pthread_create");
	do {
		CHECK_OK(kvmhold_stats_get(vm, &st, sizeof(st)));
		sched_yield();
	} while (!st.parked_now);                       /* the device waits for B */
	atomic_store(&step, 3);
	pthread_join(b, NULL);
	pthread_join(dev, NULL);
	CHECK_RET(atomic_load(&step), 4);
	CHECK_RET(kvmhold_is_held(vm), 0);
	kvmhold_vm_destroy(vm);
	printf("release from inside a section with another hold in force: -EBUSY; "
	       "after the section ends it works, and devices wait for the joined hold\n");
	return 0;
}
