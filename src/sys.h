/* SPDX-License-Identifier: MIT */
/*
 * Thin wrappers over the few system interfaces the hold protocol sleeps
 * and wakes with.  All futexes here are process-private: FUTEX_WAKE on a
 * private futex hashes only the address and never reads the word, so it
 * may be issued after the word's memory has been freed (a stray wake-up is
 * the worst it can do, and every waiter here re-checks its condition).
 */
#ifndef KVMHOLD_SYS_H
#define KVMHOLD_SYS_H

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline struct timespec ns_to_timespec(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	return ts;
}

/* A polite busy-wait step: lets the sibling hyperthread run. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * Sleep while *word == expected, until CLOCK_MONOTONIC time deadline_ns
 * (0: no deadline), as one of the waiters named by bitset.  Returns 0
 * (woken, or the word had changed), EINTR or ETIMEDOUT.
 *
 * A wait with a deadline is never restarted after a signal handler runs,
 * whatever SA_RESTART says: the kernel resumes it through a restart block,
 * which becomes EINTR when a handler is invoked (futex(2), EINTR).  The
 * park relies on that to notice a VMM's own signal.  A wait without one
 * is restarted under SA_RESTART.
 */
static inline int futex_wait_bits(atomic_uint *word, unsigned expected, uint64_t deadline_ns,
				  unsigned bitset)
{
	struct timespec ts = ns_to_timespec(deadline_ns);

	if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected,
		    deadline_ns ? &ts : NULL, NULL, bitset) == 0)
		return 0;
	return errno == EAGAIN ? 0 : errno;
}

static inline int futex_wait_until(atomic_uint *word, unsigned expected, uint64_t deadline_ns)
{
	return futex_wait_bits(word, expected, deadline_ns, FUTEX_BITSET_MATCH_ANY);
}

/* Wake up to n waiters on word whose bitset shares a bit with bitset (INT_MAX: all). */
static inline void futex_wake_bits(atomic_uint *word, int n, unsigned bitset)
{
	syscall(SYS_futex, word, FUTEX_WAKE_BITSET_PRIVATE, n, NULL, NULL, bitset);
}

static inline void futex_wake(atomic_uint *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

#endif
