/* SPDX-License-Identifier: MIT */
/*
 * Checks shared by the hold tests: a held VM's guest counters stand still,
 * a released one's move again.  "Stand still" is watched for a window of
 * time, not slept on: a running vCPU bumps its counter every few
 * microseconds, so any change within the window is a vCPU that ran.
 */
#ifndef KVMHOLD_TEST_HOLD_CHECKS_H
#define KVMHOLD_TEST_HOLD_CHECKS_H

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include "check.h"
#include "tvm.h"

/* 0 if no counter of vCPUs [first, nr) moved for window_us, else 1 + that vCPU. */
static inline unsigned counters_moved_within(struct tvm *t, unsigned first, uint64_t window_us)
{
	uint64_t before[TVM_MAX_VCPUS], end = tvm_now_ns() + window_us * 1000;
	unsigned i, nr = tvm_nr_vcpus(t);

	for (i = first; i < nr; i++)
		before[i] = tvm_counter(t, i);
	do {
		for (i = first; i < nr; i++)
			if (tvm_counter(t, i) != before[i])
				return i + 1;
		sched_yield();
	} while (tvm_now_ns() < end);
	return 0;
}

#define CHECK_FROZEN(t, first, window_us)                                            \
	do {                                                                         \
		unsigned moved_ = counters_moved_within((t), (first), (window_us));  \
		CHECK(!moved_, "vCPU %u ran while the VM was held", moved_ - 1);     \
	} while (0)

#define CHECK_ALL_MOVE(t)                                                            \
	CHECK_RET(tvm_wait_all_counters_move((t), 20000), 0)

/* -EINTR returns of vCPU idx's kvmhold_vcpu_run() so far. */
static inline uint64_t eintr_count_of(struct tvm *t, unsigned idx)
{
	struct tvm_vcpu_stats st;

	tvm_vcpu_stats(t, idx, &st);
	return st.eintr;
}

/* 1 once vCPU 0's run returned -EINTR after e0 returns had been counted; 0 after 5 s. */
static inline int wait_eintr_after(struct tvm *t, uint64_t e0)
{
	uint64_t end = tvm_now_ns() + 5000000000ull;

	while (eintr_count_of(t, 0) == e0)
		if (tvm_now_ns() > end)
			return 0;
		else
			sched_yield();
	return 1;
}

/* 1 once a thread is inside one of the library's test delays, 0 after 5 s. */
static inline int wait_in_test_delay(void)
{
	uint64_t end = tvm_now_ns() + 5000000000ull;

	while (__atomic_load_n(&kvmhold_test_delays_begun, __ATOMIC_SEQ_CST) ==
	       __atomic_load_n(&kvmhold_test_delays_ended, __ATOMIC_SEQ_CST))
		if (tvm_now_ns() > end)
			return 0;
		else
			sched_yield();
	return 1;
}

/* 1 once a thread waits for a release (parked_now), 0 after 5 s. */
static inline int wait_parked(struct tvm *t)
{
	uint64_t end = tvm_now_ns() + 5000000000ull;
	struct kvmhold_stats st;

	for (;;) {
		CHECK_OK(kvmhold_stats_get(t->vm, &st, sizeof(st)));
		if (st.parked_now)
			return 1;
		if (tvm_now_ns() > end)
			return 0;
		sched_yield();
	}
}

/*
 * Is thread tid of this process asleep in futex(2)?  Read from /proc (the
 * tests may use it; the library does not): state S and syscall SYS_futex.
 * A thread a signal has woken is runnable (R) until its handler has run,
 * so "asleep" seen after a signal was sent means that signal was handled.
 */
static inline int thread_asleep_in_futex(int tid)
{
	char path[64], buf[256], *p;
	long nr = -1;
	char state = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	if (!p || sscanf(p, ") %c", &state) != 1 || state != 'S')
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	return nr == SYS_futex;
}

/*
 * 1 once a thread is parked and asleep in the park's futex wait, 0 after
 * 5 s.  Between P1 (parked counted) and the wait, a signal's handler runs
 * before the wait and the wait does not see it: tests that send a signal
 * to a parked vCPU wait for this first.
 */
static inline int wait_parked_asleep(struct tvm *t, int tid)
{
	uint64_t end = tvm_now_ns() + 5000000000ull;

	if (!wait_parked(t))
		return 0;
	while (!thread_asleep_in_futex(tid))
		if (tvm_now_ns() > end)
			return 0;
		else
			sched_yield();
	return 1;
}

/* Start a tvm or skip/fail the test. */
static inline struct tvm *start_tvm(struct tvm_opts *o)
{
	struct tvm *t;
	int r = tvm_create(o, &t);

	CHECK(r == 0, "tvm_create: %s", strerror(-r));
	check_kick_backend(t->vm);
	CHECK_OK(tvm_start(t));
	CHECK_ALL_MOVE(t);
	return t;
}

/*
 * A device thread inside a mem section until told to leave: no hold can
 * complete meanwhile.  section_enter() returns once it is inside.
 */
struct section_thread {
	struct kvmhold_vm *vm;
	int inside, leave;
	pthread_t thread;
};

static inline void *stay_in_section(void *arg)
{
	struct section_thread *s = arg;

	CHECK_OK(kvmhold_mem_begin(s->vm));
	__atomic_store_n(&s->inside, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&s->leave, __ATOMIC_ACQUIRE))
		sched_yield();
	CHECK_OK(kvmhold_mem_end(s->vm));
	return NULL;
}

static inline void section_enter(struct section_thread *s)
{
	CHECK(pthread_create(&s->thread, NULL, stay_in_section, s) == 0, "pthread_create");
	while (!__atomic_load_n(&s->inside, __ATOMIC_ACQUIRE))
		sched_yield();
}

static inline void section_leave(struct section_thread *s)
{
	__atomic_store_n(&s->leave, 1, __ATOMIC_RELEASE);
	CHECK(pthread_join(s->thread, NULL) == 0, "pthread_join");
}

/* Stop, and fail the test if the guests or the VMM recorded failures. */
static inline void finish_tvm(struct tvm *t)
{
	int failures;

	CHECK_OK(tvm_stop(t));
	failures = tvm_failures(t);
	CHECK(failures == 0, "%d guest/VMM failures, first: %s", failures,
	      tvm_failure_msg(t, 0) ? tvm_failure_msg(t, 0) : "?");
	tvm_destroy(t);
}

#endif
