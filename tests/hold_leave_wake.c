// SPDX-License-Identifier: MIT
/*
 * A holder that sleeps until the threads inside have left is woken by the
 * leave that brings their count down to what it waits for, and by that
 * leave alone (the ones before it do not wake it: at many vCPUs that
 * would be a context switch per vCPU in every stop).  What it waits for
 * is not always zero: a holder with mem sections of its own open waits
 * for everybody else's only, so the leave that wakes it leaves its own
 * sections inside.  Here the main thread opens one section, then holds
 * while 1 to 8 device threads sit in theirs; another thread lets the
 * devices out one at a time, each time once the holder sleeps.  The hold
 * must return soon after the last one, not at its deadline, and the
 * holder must have gone to sleep at most twice (once, plus one spare for
 * a futex wait that a leave interrupted before it slept), not once per
 * device.
 *
 * Can fail: KVMHOLD_TEST_BREAK=wake-target (the sleeping holder publishes
 * target 0 whatever sections it has open): the last device's leave leaves
 * one entry inside, so it does not wake the holder, and the hold returns
 * only when its sleep reaches the deadline.  KVMHOLD_TEST_BREAK=
 * wake-every-leave (every leave wakes the holder, as before the target):
 * the holder sleeps again after each leave, once per device.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "hold_checks.h"
#include "test_hooks.h"

#define ROUNDS      16
#define MAX_DEVICES 8
#define MAX_SLEEPS  2
#define DEADLINE_MS 20000
/* Far below the deadline, far above a wake-up on a loaded machine. */
#define WOKEN_WITHIN_NS (5000ull * 1000000)

struct leaver {
	struct section_thread *devices;
	unsigned nr;
	int holder_tid;
};

/* Let the devices out one at a time, each once the holder sleeps. */
static void *let_devices_out(void *arg)
{
	struct leaver *l = arg;
	unsigned i;

	for (i = 0; i < l->nr; i++) {
		while (!thread_asleep_in_futex(l->holder_tid))
			sched_yield();
		section_leave(&l->devices[i]);
	}
	return NULL;
}

/* How often the calling thread has gone to sleep so far. */
static long sleeps(void)
{
	struct rusage ru;

	CHECK(getrusage(RUSAGE_THREAD, &ru) == 0, "getrusage");
	return ru.ru_nvcsw;
}

int main(void)
{
	struct kvmhold_vm *vm;
	unsigned round;

	test_apply_breakage();
	CHECK_OK(kvmhold_vm_create(NULL, &vm));
	for (round = 0; round < ROUNDS; round++) {
		struct section_thread devices[MAX_DEVICES] = { 0 };
		struct leaver l = { devices, 1 + round % MAX_DEVICES, gettid() };
		pthread_t leaver;
		uint64_t t0, took;
		long slept;
		unsigned i;

		CHECK_OK(kvmhold_mem_begin(vm));          /* the holder's own section */
		for (i = 0; i < l.nr; i++) {
			devices[i].vm = vm;
			section_enter(&devices[i]);
		}
		CHECK(pthread_create(&leaver, NULL, let_devices_out, &l) == 0, "pthread_create");
		t0 = tvm_now_ns();
		slept = sleeps();
		CHECK_OK(kvmhold_hold(vm, DEADLINE_MS));
		slept = sleeps() - slept;
		took = tvm_now_ns() - t0;
		CHECK(took < WOKEN_WITHIN_NS,
		      "round %u, %u device(s): the hold returned %llu ms after it began "
		      "(deadline %u ms): the last leave did not wake it",
		      round, l.nr, (unsigned long long)(took / 1000000), DEADLINE_MS);
		CHECK(slept <= MAX_SLEEPS,
		      "round %u: the holder slept %ld times while %u device(s) left "
		      "one by one: leaves before the last woke it", round, slept, l.nr);
		CHECK(pthread_join(leaver, NULL) == 0, "pthread_join");
		CHECK_OK(kvmhold_release(vm));
		CHECK_OK(kvmhold_mem_end(vm));
	}
	kvmhold_vm_destroy(vm);
	return 0;
}
