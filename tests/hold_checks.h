/* SPDX-License-Identifier: MIT */
/*
 * Checks shared by the hold tests: a held VM's guest counters stand still,
 * a released one's move again.  "Stand still" is watched for a window of
 * time, not slept on: a running vCPU bumps its counter every few
 * microseconds, so any change within the window is a vCPU that ran.
 */
#ifndef KVMHOLD_TEST_HOLD_CHECKS_H
#define KVMHOLD_TEST_HOLD_CHECKS_H

#include <sched.h>

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
